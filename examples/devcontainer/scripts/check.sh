#!/bin/sh
# What the env looks like from inside: arch, the onCreate mark, the variable from containerEnv.
set -e
cat /etc/demo-created
cat /workspace/.setup-done
echo "GREETING=$GREETING"
