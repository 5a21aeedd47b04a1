/* err.c - result codes and error records (see err.h). */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

vc_code vc_errf(vc_err *e, vc_code code, const char *fmt, ...)
{
    if (e != NULL) {
        va_list ap;
        e->code = code;
        va_start(ap, fmt);
        (void)vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void vc_err_clear(vc_err *e)
{
    if (e != NULL) {
        e->code = VC_OK;
        e->msg[0] = '\0';
    }
}

const char *vc_code_name(vc_code code)
{
    switch (code) {
    case VC_OK:
        return "ok";
    case VC_BAD_REQUEST:
        return "bad_request";
    case VC_UNKNOWN_OPERATION:
        return "unknown_operation";
    case VC_ACCESS_DENIED:
        return "access_denied";
    case VC_NOT_FOUND:
        return "not_found";
    case VC_TOO_LARGE:
        return "too_large";
    case VC_UNAVAILABLE:
        return "unavailable";
    case VC_CONFLICT:
        return "conflict";
    case VC_TOKEN_INVALID:
        return "token_invalid";
    case VC_TOKEN_EXPIRED:
        return "token_expired";
    case VC_INTERNAL:
    case VC_CONFIG:
        break;
    }
    return "internal";
}

int vc_code_number(vc_code code)
{
    switch (code) {
    case VC_OK:
        return 200;
    case VC_BAD_REQUEST:
    case VC_UNKNOWN_OPERATION:
        return 400;
    case VC_ACCESS_DENIED:
        return 403;
    case VC_NOT_FOUND:
        return 404;
    case VC_TOO_LARGE:
        return 413;
    case VC_UNAVAILABLE:
        return 503;
    case VC_CONFLICT:
        return 409;
    case VC_TOKEN_INVALID:
    case VC_TOKEN_EXPIRED:
        return 401;
    case VC_INTERNAL:
    case VC_CONFIG:
        break;
    }
    return 500;
}
