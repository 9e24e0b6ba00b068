/* wsg_cli_export: export (firewall formats) and import (peer bans). Placeholder until issue 5. */
#include "wsg_cli.h"

int wsg_cli_export(wsg_cli_t *cli, int argc, const char *const *argv)
{
    fprintf(cli->err, "wsguardctl export: not implemented yet\n");
    return 1;
}

int wsg_cli_import(wsg_cli_t *cli, int argc, const char *const *argv)
{
    fprintf(cli->err, "wsguardctl import: not implemented yet\n");
    return 1;
}
