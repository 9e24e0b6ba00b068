/* wsg_cli_report: sharing reports (CSV, JSON, STIX 2.1, MISP). Placeholder until issue 5. */
#include "wsg_cli.h"

int wsg_cli_report(wsg_cli_t *cli, int argc, const char *const *argv)
{
    fprintf(cli->err, "wsguardctl report: not implemented yet\n");
    return 1;
}
