/* duration.c - durations (see duration.h). */
#include "duration.h"

static bool digits(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > DURATION_MAX_S)
            return false;
    }
    *out = v;
    return true;
}

bool duration_parse(const char *s, size_t len, uint64_t *out)
{
    uint64_t total = 0;
    size_t i = 0;

    if (s == NULL || len == 0)
        return false;
    if (digits(s, len, out))
        return true;
    while (i < len) {
        size_t start = i;
        uint64_t v, mul;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == len || !digits(s + start, i - start, &v))
            return false;
        switch (s[i++]) {
        case 's':
            mul = 1;
            break;
        case 'm':
            mul = 60;
            break;
        case 'h':
            mul = 3600;
            break;
        case 'd':
            mul = 86400;
            break;
        default:
            return false;
        }
        if (v > DURATION_MAX_S / mul || v * mul > DURATION_MAX_S - total)
            return false;
        total += v * mul;
    }
    *out = total;
    return true;
}

bool duration_from_json(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < 0 || (uint64_t)n > DURATION_MAX_S)
            return false;
        *out = (uint64_t)n;
        return true;
    }
    if (json_is_string(v))
        return duration_parse(json_string_value(v), json_string_length(v), out);
    return false;
}
