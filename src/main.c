/* main.c - entry point (placeholder until the CLI lands). */
#include <stdio.h>
int main(void)
{
    fputs("vaultctl: under construction\n", stderr);
    return 2;
}
