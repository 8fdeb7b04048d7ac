/* Status codes and the thread-local sentence that explains the last error. */
#include "longctx/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[512];

const char *lc_status_str(lc_status s) {
    switch (s) {
    case LC_OK: return "LC_OK";
    case LC_EINVAL: return "LC_EINVAL";
    case LC_ENOMEM: return "LC_ENOMEM";
    case LC_EUNSUPPORTED: return "LC_EUNSUPPORTED";
    case LC_ERANGE: return "LC_ERANGE";
    case LC_ESTATE: return "LC_ESTATE";
    case LC_EIO: return "LC_EIO";
    case LC_EFORMAT: return "LC_EFORMAT";
    case LC_EINTERNAL: return "LC_EINTERNAL";
    }
    return "LC_E?";
}

const char *lc_last_error(void) { return last_error; }

lc_status lc_error(lc_status s, const char *fmt, ...) {
    /* format into a scratch buffer first: the arguments may point into last_error
     * (lc_error(s, "...: %s", lc_last_error()) adds context to the sentence) */
    char sentence[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sentence, sizeof sentence, fmt, ap);
    va_end(ap);
    memcpy(last_error, sentence, sizeof sentence);
    return s;
}

const char *lc_version(void) { return LONGCTX_VERSION; }
