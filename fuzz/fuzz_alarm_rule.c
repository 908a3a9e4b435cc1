/*
 * Fuzz target for composite alarms' AlarmRule grammar (metrics/alarm_rule.c), which
 * PutCompositeAlarm reads from any client: parses the input and, when it parses,
 * evaluates the rule with its alarms in states the input's bytes pick. A rule that
 * parses names at most 100 alarms, each a non-empty name; a failure always says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct metrics_rule *r = NULL;
    char err[256] = "";
    if (metrics_rule_parse(text, &r, err, sizeof(err)) != 0) {
        if (r != NULL || err[0] == '\0') {
            __builtin_trap();
        }
        free(text);
        return 0;
    }
    const char *const *names;
    size_t n = metrics_rule_children(r, &names);
    if (n > 100) {
        __builtin_trap();
    }
    static const char *const states[] = {"OK", "ALARM", "INSUFFICIENT_DATA", NULL};
    const char *picked[100];
    for (size_t i = 0; i < n; i++) {
        if (names[i] == NULL || names[i][0] == '\0') {
            __builtin_trap(); /* every alarm the rule names has a name */
        }
        picked[i] = states[(size > 0 ? data[i % size] : 0) & 3];
    }
    (void)metrics_rule_eval(r, picked);
    metrics_rule_free(r);
    free(text);
    return 0;
}
