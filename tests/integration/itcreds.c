/* itcreds.c - the harness's connection with a .creds file (harness.h,
 * it_connect_creds), through vaultctl's own natsconn.c. Apart from
 * harness.c, whose parameters named config would clash with config.h's
 * type, which natsconn.h brings in. */
#include "harness.h"
#include "natsconn.h"

#include <stdio.h>

natsStatus it_connect_creds(natsConnection **nc, const char *url, const char *path,
                            const char *inbox, void (*tune)(natsOptions *o))
{
    natsOptions *o = NULL;
    vc_err err;
    natsconn_params p = {.servers = url, .creds = path, .inbox_prefix = inbox};
    *nc = NULL;
    if (natsconn_options(&o, &p, &err) != VC_OK) {
        fprintf(stderr, "options for %s: %s\n", path, err.msg);
        return NATS_ERR;
    }
    if (tune != NULL)
        tune(o);
    natsStatus st = natsconn_connect(nc, o);
    natsOptions_Destroy(o);
    return st;
}
