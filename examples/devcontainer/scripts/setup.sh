#!/bin/sh
# postCreateCommand: runs once, after onCreateCommand, with the workspace mounted.
set -e
echo "$GREETING from setup.sh on $(uname -m)" > /workspace/.setup-done
