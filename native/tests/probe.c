/* Probe run inside the sandbox by tests (like crun's tests/init.c): prints exact facts. */
#include <stdio.h>
int main(void) { puts("probe: pending"); return 0; }
