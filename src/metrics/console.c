/*
 * The console: GET /console (a page) and GET /console/app.js (its script), served from the
 * binary. The assets hold no data: the script signs its own API calls (SigV4, with the
 * access key given at sign-in), so the pages are served unsigned like /metrics is.
 *
 * The files are src/metrics/console/; .incbin takes them in when this file is compiled
 * (from the checkout's root, as the Makefile does, which also rebuilds this file when they
 * change).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "http/api.h"
#include "metrics/metrics.h"

__asm__(".section .rodata\n"
        ".global sluice_console_html\n"
        "sluice_console_html:\n"
        ".incbin \"src/metrics/console/index.html\"\n"
        ".byte 0\n"
        ".global sluice_console_js\n"
        "sluice_console_js:\n"
        ".incbin \"src/metrics/console/app.js\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char sluice_console_html[];
extern const char sluice_console_js[];

struct console {
    struct api_plain_service page, script;
    char *html; /* the page with the server's region in */
};

static void answer_page(void *ctx, const struct api_request *req, struct api_response *resp)
{
    (void)req;
    struct console *c = ctx;
    api_response_header(resp, "Content-Type", "text/html; charset=utf-8");
    api_response_header(resp, "Cache-Control", "no-store");
    api_response_header(resp, "X-Frame-Options", "DENY");
    buf_puts(&resp->body, c->html);
}

static void answer_script(void *ctx, const struct api_request *req, struct api_response *resp)
{
    (void)ctx;
    (void)req;
    api_response_header(resp, "Content-Type", "text/javascript; charset=utf-8");
    api_response_header(resp, "Cache-Control", "no-store");
    buf_puts(&resp->body, sluice_console_js);
}

struct console *console_create(const char *region)
{
    struct console *c = xcalloc(1, sizeof(*c));
    const char *mark = strstr(sluice_console_html, "@REGION@");
    c->html = mark == NULL ? xstrdup(sluice_console_html)
                           : xasprintf("%.*s%s%s", (int)(mark - sluice_console_html),
                                       sluice_console_html, region, mark + strlen("@REGION@"));
    c->page = (struct api_plain_service){"/console", answer_page, c};
    c->script = (struct api_plain_service){"/console/app.js", answer_script, c};
    return c;
}

const struct api_plain_service *console_page(struct console *c)
{
    return &c->page;
}

const struct api_plain_service *console_script(struct console *c)
{
    return &c->script;
}

void console_destroy(struct console *c)
{
    if (c != NULL) {
        free(c->html);
        free(c);
    }
}
