/* SPDX-License-Identifier: ISC */
/*
 * dwell config list
 * dwell config show NAME
 *
 * The session configurations the caller may use (those whose access list
 * admits it; dwelld decides).  `list` (REQ_CONFIG_LIST) prints a table
 * with the columns Name RunAs IdleTimeout MaxIdleTimeout Buffering
 * BufferSize, or with --json an array of objects; `show NAME`
 * (REQ_CONFIG_SHOW) prints the configuration as YAML, every effective
 * value included, or with --json the object of `list` plus "yaml".
 *
 * dwelld answers with one KV frame per configuration and END{count}; the
 * keys: name, description, run_as ("" = none), idle_timeout and
 * max_idle_timeout (decimal seconds), output_buffering, output_buffer_size
 * (decimal bytes), share_with_access, restricted and terminal (terminal
 * sessions allowed) ("true"/"false"), and
 * for show also yaml.  Values are checked here: a KV frame that lacks a
 * key or has a malformed number counts as a protocol error.
 *
 * Fails (exit 255) on a bad argument, when dwelld cannot be reached, and
 * with not-found for `show` of a configuration that does not exist or that
 * the caller may not use (the two are indistinguishable).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "configuration.h"
#include "parse-util.h"

typedef struct ConfigInfo {
        struct proto_kv kv;     /* owns the strings below */
        const char *name;
        const char *description;
        const char *run_as;     /* "" = none */
        uint64_t idle_timeout;  /* usec */
        uint64_t max_idle_timeout;
        const char *output_buffering;
        uint64_t output_buffer_size;
        bool share_with_access;
        bool restricted;
        bool terminal;
        const char *yaml;       /* show only; NULL otherwise */
} ConfigInfo;

static void config_info_array_free(ConfigInfo *a, size_t n) {
        for (size_t i = 0; i < n; i++)
                proto_kv_done(&a[i].kv);
        free(a);
}

static int kv_u64(const struct proto_kv *kv, const char *key, uint64_t *ret) {
        const char *v = proto_kv_get(kv, key);
        char *end;

        if (!v || !v[0] || strspn(v, "0123456789") != strlen(v) || strlen(v) > 20)
                return -EBADMSG;
        errno = 0;
        *ret = strtoull(v, &end, 10);
        return errno != 0 ? -EBADMSG : 0;
}

static int kv_bool(const struct proto_kv *kv, const char *key, bool *ret) {
        const char *v = proto_kv_get(kv, key);

        if (!v)
                return -EBADMSG;
        if (streq(v, "true"))
                *ret = true;
        else if (streq(v, "false"))
                *ret = false;
        else
                return -EBADMSG;
        return 0;
}

/* Takes the KV frame's payload; with_yaml: the "yaml" key is required. */
static int config_info_parse(Frame *f, bool with_yaml, ConfigInfo *ret) {
        ConfigInfo i = {};
        uint64_t secs;
        int r;

        r = proto_get_kv(&f->payload, &i.kv);
        if (r < 0)
                return r;
        i.name = proto_kv_get(&i.kv, "name");
        i.description = proto_kv_get(&i.kv, "description");
        i.run_as = proto_kv_get(&i.kv, "run_as");
        i.output_buffering = proto_kv_get(&i.kv, "output_buffering");
        i.yaml = proto_kv_get(&i.kv, "yaml");
        r = -EBADMSG;
        if (!i.name || !i.name[0] || !i.description || !i.run_as || !i.output_buffering ||
            (with_yaml && !i.yaml))
                goto fail;
        if (kv_u64(&i.kv, "idle_timeout", &secs) < 0 || secs > UINT64_MAX / USEC_PER_SEC)
                goto fail;
        i.idle_timeout = secs * USEC_PER_SEC;
        if (kv_u64(&i.kv, "max_idle_timeout", &secs) < 0 || secs > UINT64_MAX / USEC_PER_SEC)
                goto fail;
        i.max_idle_timeout = secs * USEC_PER_SEC;
        if (kv_u64(&i.kv, "output_buffer_size", &i.output_buffer_size) < 0 ||
            kv_bool(&i.kv, "share_with_access", &i.share_with_access) < 0 ||
            kv_bool(&i.kv, "restricted", &i.restricted) < 0 ||
            kv_bool(&i.kv, "terminal", &i.terminal) < 0)
                goto fail;
        *ret = i;
        return 0;
fail:
        proto_kv_done(&i.kv);
        return r;
}

/* Sends the request and collects the KV..END answer. */
typedef struct ConfigArray {
        ConfigInfo *v;
        size_t n;
        bool with_yaml;
} ConfigArray;

static int config_array_add_cb(Frame *f, void *userdata) {
        ConfigArray *a = userdata;
        ConfigInfo *v = realloc(a->v, (a->n + 1) * sizeof(ConfigInfo));
        int r;

        if (!v)
                return client_error(-ENOMEM, PROTO_ERR_UNAVAILABLE, "out of memory");
        a->v = v;
        r = config_info_parse(f, a->with_yaml, v + a->n);
        if (r < 0)
                return session_lost_dwelld(r);
        a->n++;
        return 0;
}

static int config_request(uint16_t type, const char *name, ConfigInfo **ret, size_t *ret_n) {
        _cleanup_(conn_donep) Conn c = { .fd = -EBADF };
        struct proto_request req = { .config = (char *) name };
        ConfigArray a = { .with_yaml = type == PROTO_REQ_CONFIG_SHOW };
        int r;

        r = session_request(type, &req, &c);
        if (r >= 0)
                r = session_read_list(&c, PROTO_MSG_KV, config_array_add_cb, &a);
        if (r < 0) {
                config_info_array_free(a.v, a.n);
                return r;
        }
        *ret = a.v;
        *ret_n = a.n;
        return 0;
}

static void json_print_config(FILE *f, const ConfigInfo *i) {
        fputs("{\"name\": ", f);
        json_print_string(f, i->name);
        fputs(", \"description\": ", f);
        if (i->description[0])
                json_print_string(f, i->description);
        else
                fputs("null", f);
        fputs(", \"run_as\": ", f);
        if (i->run_as[0])
                json_print_string(f, i->run_as);
        else
                fputs("null", f);
        fputs(", \"idle_timeout\": ", f);
        json_print_seconds(f, i->idle_timeout);
        fputs(", \"max_idle_timeout\": ", f);
        json_print_seconds(f, i->max_idle_timeout);
        fputs(", \"output_buffering\": ", f);
        json_print_string(f, i->output_buffering);
        fprintf(f, ", \"output_buffer_size\": %" PRIu64 ", \"share_with_access\": %s, \"restricted\": %s, "
                "\"terminal\": %s", i->output_buffer_size, i->share_with_access ? "true" : "false",
                i->restricted ? "true" : "false", i->terminal ? "true" : "false");
        if (i->yaml) {
                fputs(", \"yaml\": ", f);
                json_print_string(f, i->yaml);
        }
        fputc('}', f);
}

static int print_config_table(const ConfigInfo *a, size_t n) {
        static const char *const header[] = {
                "Name", "RunAs", "IdleTimeout", "MaxIdleTimeout", "Buffering", "BufferSize",
        };
        _cleanup_(table_done) Table t = { .n_columns = ELEMENTSOF(header) };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(header); i++) {
                r = table_add(&t, header[i], SIZE_MAX);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n; i++) {
                char idle[64], max[64], size[64];
                const char *row[] = {
                        a[i].name, a[i].run_as[0] ? a[i].run_as : "-",
                        format_duration(idle, sizeof idle, a[i].idle_timeout),
                        format_duration(max, sizeof max, a[i].max_idle_timeout),
                        a[i].output_buffering,
                        format_size(size, sizeof size, a[i].output_buffer_size),
                };

                for (size_t k = 0; k < ELEMENTSOF(row); k++) {
                        r = table_add(&t, row[k], SIZE_MAX);
                        if (r < 0)
                                return r;
                }
        }
        return table_print(&t, stdout);
}

static int config_list(void) {
        ConfigInfo *a = NULL;
        size_t n = 0;
        int r;

        r = config_request(PROTO_REQ_CONFIG_LIST, NULL, &a, &n);
        if (r < 0)
                return r;
        if (arg_json) {
                fputc('[', stdout);
                for (size_t i = 0; i < n; i++) {
                        fputs(i == 0 ? "\n  " : ",\n  ", stdout);
                        json_print_config(stdout, a + i);
                }
                fputs(n > 0 ? "\n]\n" : "]\n", stdout);
                r = 0;
        } else
                r = print_config_table(a, n);
        config_info_array_free(a, n);
        return r < 0 ? client_error(r, PROTO_ERR_UNAVAILABLE, "out of memory") : 0;
}

static int config_show(const char *name) {
        ConfigInfo *a = NULL;
        size_t n = 0;
        int r;

        r = config_request(PROTO_REQ_CONFIG_SHOW, name, &a, &n);
        if (r < 0)
                return r;
        if (n != 1) {
                config_info_array_free(a, n);
                return session_lost_dwelld(-EBADMSG);
        }
        if (arg_json) {
                json_print_config(stdout, a);
                fputc('\n', stdout);
        } else {
                /* Root's own text (dwelld formats it from the parsed file):
                 * printed as is. */
                size_t l = strlen(a->yaml);

                fputs(a->yaml, stdout);
                if (l > 0 && a->yaml[l - 1] != '\n')
                        fputc('\n', stdout);
        }
        config_info_array_free(a, n);
        return 0;
}

static int verb_config_run(const Verb *v, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *sub;
        int opt;

        while ((opt = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                if (opt == 'h')
                        return verb_help(v);
                return verb_bad_option(v, opt, optind, argv);
        }
        if (optind >= argc)
                return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                    "config: missing subcommand (list or show NAME)");
        sub = argv[optind++];
        if (streq(sub, "list")) {
                if (optind < argc)
                        return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                            "config list: unexpected argument '%s'", argv[optind]);
                return config_list();
        }
        if (streq(sub, "show")) {
                if (argc - optind != 1)
                        return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                            "config show: expected exactly one configuration NAME");
                if (!config_name_valid(argv[optind]))
                        return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                                            "invalid configuration name '%s' (1-%d of A-Z a-z 0-9 . _ -, "
                                            "not starting with . or -)", argv[optind], CONFIG_NAME_MAX);
                return config_show(argv[optind]);
        }
        return client_error(-EINVAL, PROTO_ERR_INVALID_ARGUMENT,
                            "config: unknown subcommand '%s' (expected list or show NAME)", sub);
}

const Verb verb_config = {
        .name = "config",
        .synopsis = "list | show NAME",
        .help =
        "Session configurations you may use: list them, or show one as YAML.\n"
        "\n"
        "  list         a table: Name, RunAs, IdleTimeout, MaxIdleTimeout, Buffering, BufferSize\n"
        "  show NAME    every setting of configuration NAME, as YAML\n"
        "  -h, --help   show this help\n",
        .run = verb_config_run,
};
