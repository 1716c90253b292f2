/* SPDX-License-Identifier: ISC */
/*
 * config: session configurations (every key, defaults, a table of bad
 * files with their exact file:line:column messages, files with several
 * errors reported together, the format/parse round
 * trip), dwelld.yaml, options.yaml, file names, the file loaders, and the
 * shipped policy files under $top_srcdir/policy.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "configuration.h"
#include "macro.h"
#include "parse-util.h"
#include "tap.h"

#define SEC USEC_PER_SEC

/* ---------------------------------------------------------------- a fake NSS */

static const char * const known_users[] = { "root", "alice", "bob", "carol", "oncall", "nobody", NULL };
static const char * const known_groups[] = { "netadmins", "wheel", "adm", "sre", "oncall", NULL };

static int lookup_in(const char *name, const char * const *l) {
        if (streq(name, "lookupfail"))
                return -EIO;
        for (size_t i = 0; l[i]; i++)
                if (streq(l[i], name))
                        return 1;
        return 0;
}

static int fake_user_exists(const char *name, void *userdata) {
        (*(unsigned *) userdata)++;
        return lookup_in(name, known_users);
}

static int fake_group_exists(const char *name, void *userdata) {
        (*(unsigned *) userdata)++;
        return lookup_in(name, known_groups);
}

static unsigned lookups;
static const ConfigLookup lookup = {
        .user_exists = fake_user_exists,
        .group_exists = fake_group_exists,
        .userdata = &lookups,
};

static int parse(const char *text, SessionConfig **ret, char **ret_error) {
        return config_session_parse(text, strlen(text), "t.yaml", &lookup, ret, ret_error);
}

/* Formats c, parses the text again and compares. */
static bool round_trip(const SessionConfig *c) {
        _cleanup_session_config_ SessionConfig *d = NULL;
        _cleanup_free_ char *text = NULL, *error = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&text, &size);
        if (!f)
                return false;
        r = config_session_format(c, f);
        fclose(f);
        if (r < 0)
                return false;
        r = config_session_parse(text, size, "formatted", &lookup, &d, &error);
        if (r < 0) {
                diag("formatted text does not parse: %s", strempty(error));
                diag("%s", text);
                return false;
        }
        free(d->name);
        d->name = c->name ? strdup(c->name) : NULL;
        if (!config_session_equal(c, d)) {
                diag("formatted text parses to something else:\n%s", text);
                return false;
        }
        return true;
}

/* ---------------------------------------------------------------- good files */

static const char full[] =
        "# every key\n"
        "description: Network operators — root with CAP_NET_ADMIN only\n"
        "access:\n"
        "  users: [alice, bob]\n"
        "  groups:\n"
        "    - netadmins\n"
        "run_as: root\n"
        "share_with_access: true\n"
        "capabilities: [CAP_NET_ADMIN, net_raw, cap_sys_ptrace]\n"
        "no_new_privileges: false\n"
        "commands: [/usr/sbin/ip, /usr/bin/ss]\n"
        "environment: {LANG: C.UTF-8, EMPTY: \"\", TZ: UTC}\n"
        "working_directory: \"~/work\"\n"
        "umask: \"0027\"\n"
        "idle_timeout: 1h30m\n"
        "max_idle_timeout: 1d\n"
        "output_buffering: drop\n"
        "output_buffer_size: 16MiB\n"
        "max_sessions: 100\n"
        "max_sessions_per_user: 10\n"
        "transcript: true\n"
        "limits:\n"
        "  nofile: 4096\n"
        "  nproc: 512\n"
        "  core: 0\n"
        "  fsize: 1GiB\n"
        "  memlock: 64KiB\n"
        "  stack: infinity\n"
        "  cpu: 1h\n"
        "  as: unlimited\n"
        "  nice: 10\n"
        "  rttime: 2s\n";

static void test_full(void) {
        _cleanup_session_config_ SessionConfig *c = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        lookups = 0;
        r = parse(full, &c, &error);
        is_int(r, 0, "full configuration parses");
        if (r < 0) {
                diag("%s", strempty(error));
                return;
        }
        ok(!error, "no error message on success");
        is_str(c->name, NULL, "the parser sets no name");
        is_str(c->description, "Network operators — root with CAP_NET_ADMIN only", "description (UTF-8)");
        ok(c->access_restricted, "access restricted");
        ok(c->access_users && streq(c->access_users[0], "alice") && streq(c->access_users[1], "bob") &&
           !c->access_users[2], "access.users");
        ok(c->access_groups && streq(c->access_groups[0], "netadmins") && !c->access_groups[1],
           "access.groups");
        is_str(c->run_as, "root", "run_as");
        ok(c->share_with_access, "share_with_access");
        ok(c->capabilities_set, "capabilities set");
        is_int(c->capabilities, (UINT64_C(1) << 12) | (UINT64_C(1) << 13) | (UINT64_C(1) << 19),
               "capabilities bitmask (NET_ADMIN, NET_RAW, SYS_PTRACE)");
        ok(!c->no_new_privileges, "no_new_privileges: false overrides the run_as default");
        is_str(c->shell, NULL, "no shell with commands");
        ok(c->commands && streq(c->commands[0], "/usr/sbin/ip") && streq(c->commands[1], "/usr/bin/ss") &&
           !c->commands[2], "commands");
        ok(c->environment && streq(c->environment[0], "LANG=C.UTF-8") && streq(c->environment[1], "EMPTY=") &&
           streq(c->environment[2], "TZ=UTC") && !c->environment[3], "environment");
        is_str(c->working_directory, "~/work", "working_directory");
        ok(c->umask_set && c->umask == 027, "umask 0027");
        is_int(c->idle_timeout, 5400 * SEC, "idle_timeout 1h30m");
        is_int(c->max_idle_timeout, 86400 * SEC, "max_idle_timeout 1d");
        is_int(c->output_buffering, BUFFERING_DROP, "output_buffering drop");
        is_int(c->output_buffer_size, 16 << 20, "output_buffer_size 16MiB");
        is_int(c->max_sessions, 100, "max_sessions");
        is_int(c->max_sessions_per_user, 10, "max_sessions_per_user");
        ok(c->transcript, "transcript");
        ok(c->limits[RLIMIT_NOFILE].set && c->limits[RLIMIT_NOFILE].value == 4096, "limits.nofile");
        ok(c->limits[RLIMIT_NPROC].set && c->limits[RLIMIT_NPROC].value == 512, "limits.nproc");
        ok(c->limits[RLIMIT_CORE].set && c->limits[RLIMIT_CORE].value == 0, "limits.core 0");
        ok(c->limits[RLIMIT_FSIZE].value == UINT64_C(1) << 30, "limits.fsize 1GiB");
        ok(c->limits[RLIMIT_MEMLOCK].value == 64 << 10, "limits.memlock 64KiB");
        ok(c->limits[RLIMIT_STACK].set && c->limits[RLIMIT_STACK].value == CONFIG_LIMIT_INFINITY,
           "limits.stack infinity");
        ok(c->limits[RLIMIT_CPU].value == 3600, "limits.cpu 1h = 3600 seconds");
        ok(c->limits[RLIMIT_AS].value == CONFIG_LIMIT_INFINITY, "limits.as unlimited");
        ok(c->limits[RLIMIT_NICE].value == 10, "limits.nice");
        ok(c->limits[RLIMIT_RTTIME].value == 2 * SEC, "limits.rttime 2s in usec");
        ok(!c->limits[RLIMIT_DATA].set, "limits.data not set");
        is_int(lookups, 4, "four user/group look-ups (alice, bob, netadmins, root)");
        ok(round_trip(c), "full configuration: format and parse again gives the same");
}

static void test_observers(void) {
        _cleanup_session_config_ SessionConfig *c = NULL, *d = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = parse("observers: [carol, \"@sre\", bob, \"@wheel\"]\n", &c, &error);
        is_int(r, 0, "observers list parses");
        if (r < 0) {
                diag("%s", strempty(error));
                return;
        }
        ok(c->observer_users && streq(c->observer_users[0], "carol") && streq(c->observer_users[1], "bob") &&
           !c->observer_users[2], "observers: users");
        ok(c->observer_groups && streq(c->observer_groups[0], "sre") && streq(c->observer_groups[1], "wheel") &&
           !c->observer_groups[2], "observers: '@' names groups");
        ok(!c->access_restricted, "observers do not restrict access");
        ok(round_trip(c), "observers round trip");
        r = parse("observers: {users: [carol, bob], groups: [sre, wheel]}\n", &d, &error);
        is_int(r, 0, "observers mapping parses");
        ok(r == 0 && config_session_equal(c, d), "the list and the mapping forms are the same");
}

static void test_defaults(void) {
        _cleanup_session_config_ SessionConfig *c = NULL, *d = NULL, *e = NULL, *builtin = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = parse("description: minimal\n", &c, &error);
        is_int(r, 0, "minimal configuration parses");
        if (r < 0)
                return;
        ok(!c->access_restricted && !c->access_users && !c->access_groups, "default: everyone");
        is_str(c->run_as, NULL, "default: runs as the caller");
        ok(!c->share_with_access, "default: no sharing");
        ok(!c->observer_users && !c->observer_groups, "default: no observers");
        ok(c->allow_on_finish && !c->on_finish, "default: hooks allowed, none by default");
        ok(!c->capabilities_set && c->capabilities == 0, "default: capabilities not set");
        ok(!c->no_new_privileges, "default: no_new_privileges false without run_as");
        is_str(c->shell, "/bin/bash", "default shell");
        ok(!c->commands, "default: no commands");
        ok(!c->environment, "default: no environment");
        is_str(c->working_directory, "~", "default working_directory");
        ok(!c->umask_set, "default: umask inherited");
        is_int(c->idle_timeout, 2 * 3600 * SEC, "default idle_timeout 2h");
        is_int(c->max_idle_timeout, 12 * 3600 * SEC, "default max_idle_timeout 12h");
        is_int(c->output_buffering, BUFFERING_BLOCK, "default output_buffering block");
        is_int(c->output_buffer_size, 4 << 20, "default output_buffer_size 4MiB");
        ok(c->max_sessions == 0 && c->max_sessions_per_user == 0, "default: no session caps");
        ok(!c->transcript, "default: no transcript");
        ok(!c->limits[RLIMIT_NOFILE].set, "default: no limits");
        ok(round_trip(c), "defaults round trip");

        r = parse("run_as: root\n", &d, NULL);
        is_int(r, 0, "run_as only parses");
        if (r >= 0)
                ok(d->no_new_privileges, "default: no_new_privileges true with run_as");

        r = parse("max_idle_timeout: 30m\n", &e, NULL);
        is_int(r, 0, "max_idle_timeout below the default idle_timeout parses");
        if (r >= 0)
                is_int(e->idle_timeout, 30 * 60 * SEC, "the default idle_timeout is clamped to max_idle_timeout");

        builtin = config_session_new_default();
        ok(builtin && streq(builtin->name, "default"), "built-in default is named default");
        ok(builtin && round_trip(builtin), "built-in default round trip");
}

static void test_misc_good(void) {
        static const char * const good[] = {
                "shell: /bin/sh\nworking_directory: /\n",
                "working_directory: ~\n",                       /* plain ~ is the home directory, not null */
                "umask: 0077\n",
                "umask: 22\n",
                "umask: \"0o022\"\n",
                "transcript: True\nno_new_privileges: FALSE\n",
                "idle_timeout: 90\n",
                "idle_timeout: \"5m\"\n",
                "run_as: root\ncapabilities: []\n",
                "environment: {}\n",
                "access: {users: [alice], groups: []}\n",
                "limits: {}\n",
                "output_buffer_size: 4096\n",
                "output_buffer_size: 1GiB\n",
                "idle_timeout: 12h\n",
                ("\xef\xbb\xbf" "description: with a byte order mark\n"),
                "---\ndescription: explicit document\n...\n",
                "{description: flow, transcript: false}\n",
                "description: \"tab\\tand\\nnewline and \\\"quotes\\\" \\u2028 \\x85 \\x7f\"\n",
                "description: |\n  a literal\n  block\n",
                "access:\n  users: [nobody]\nrun_as: oncall\nshare_with_access: true\n",
                "observers: [carol, \"@sre\", bob]\n",
                "observers:\n  groups: [wheel]\n",
                "observers: {users: [alice], groups: [adm, sre]}\n",
                "limits:\n  msgqueue: 819200\n  sigpending: 100\n  locks: 10\n  rss: 1GiB\n  data: 2GiB\n  rtprio: 99\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_session_config_ SessionConfig *c = NULL;
                _cleanup_free_ char *error = NULL;
                int r = parse(good[i], &c, &error);

                if (!ok(r == 0, "good #%zu parses", i))
                        diag("%s", strempty(error));
                else
                        ok(round_trip(c), "good #%zu round trip", i);
        }
}

/* ---------------------------------------------------------------- bad files */

static const struct {
        const char *text;
        const char *message;    /* the exact message, or a prefix ending in "..." */
} bad[] = {
        /* the file as a whole */
        { "", "t.yaml:1:1: empty file: expected a mapping of settings" },
        { "# nothing but a comment\n\n", "t.yaml:1:1: empty file: expected a mapping of settings" },
        { "---\n", "t.yaml:2:1: empty file: expected a mapping of settings" },
        { "- a\n- b\n", "t.yaml:1:1: expected a mapping of settings at the top level, got a list" },
        { "just words\n", "t.yaml:1:1: expected a mapping of settings at the top level, got a scalar" },
        { "description: a\n---\ndescription: b\n", "t.yaml:2:1: only one YAML document is allowed" },
        /* syntax */
        { "shell: /bin/sh\naccess: [\n", "t.yaml:3:1: syntax error: did not find expected node content" },
        { "\tshell: /bin/sh\n", "t.yaml:1:1: syntax error: found character that cannot start any token" },
        { "shell: /bin/sh\n  transcript: true\n", "t.yaml:2:13: syntax error: mapping values are not allowed in this context" },
        { "description: \"unterminated\n", "t.yaml:2:1: syntax error: found unexpected end of stream" },
        { "description: ok\n\xff: 1\n", "t.yaml:2:1: syntax error: invalid leading UTF-8 octet" },
        /* keys */
        { "shel: /bin/sh\n", "t.yaml:1:1: shel: unknown key (did you mean \"shell\"?)" },
        { "description: x\nfrobnicate: 1\n", "t.yaml:2:1: frobnicate: unknown key" },
        { "Shell: /bin/sh\n", "t.yaml:1:1: Shell: unknown key (did you mean \"shell\"?)" },
        { "shell: /bin/sh\ntranscript: true\nshell: /bin/zsh\n",
          "t.yaml:3:1: shell: duplicate key (already given at line 1)" },
        { "? [a, b]\n: c\n", "t.yaml:1:3: keys must be strings, got a list" },
        { "\"bad key\\x01\": 1\n", "t.yaml:1:1: \"bad key\\x01\": unknown key" },
        { "shell: &sh /bin/sh\n", "t.yaml:1:8: shell: anchors and aliases are not supported" },
        { "access:\n  users: [alice]\n  groups: *admins\n",
          "t.yaml:3:11: access.groups: anchors and aliases are not supported" },
        { "shell: !!str /bin/sh\n", "t.yaml:1:8: shell: tags are not supported" },
        { "limits: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
          "t.yaml:1:40: nesting too deep (more than 32 levels)" },
        /* types */
        { "description: [a, b]\n", "t.yaml:1:14: description: expected a value, got a list" },
        { "description:\n", "t.yaml:1:13: description: missing value" },
        { "shell: \"/bin/sh\\0-x\"\n", "t.yaml:1:8: shell: contains a NUL character" },
        { "transcript: yes\n", "t.yaml:1:13: transcript: expected true or false, got \"yes\"" },
        { "transcript: \"true\"\n", "t.yaml:1:13: transcript: expected true or false, got the string \"true\"" },
        { "no_new_privileges: 1\n", "t.yaml:1:20: no_new_privileges: expected true or false, got \"1\"" },
        { "share_with_access: {}\n", "t.yaml:1:20: share_with_access: expected a value, got a mapping" },
        { "max_sessions: ten\n", "t.yaml:1:15: max_sessions: expected an integer, got \"ten\"" },
        { "max_sessions: -1\n", "t.yaml:1:15: max_sessions: expected an integer, got \"-1\"" },
        { "max_sessions: 1.5\n", "t.yaml:1:15: max_sessions: expected an integer, got \"1.5\"" },
        { "max_sessions_per_user: \"5\"\n",
          "t.yaml:1:24: max_sessions_per_user: expected an integer, got the string \"5\"" },
        { "max_sessions: 0\n", "t.yaml:1:15: max_sessions: must be at least 1 (omit the key for no limit)" },
        { "max_sessions: 4294967296\n",
          "t.yaml:1:15: max_sessions: \"4294967296\" is out of range (at most 4294967295)" },
        /* durations and sizes */
        { "idle_timeout: 2 hours\n", "t.yaml:1:15: idle_timeout: invalid duration \"2 hours\"..." },
        { "idle_timeout: -5m\n", "t.yaml:1:15: idle_timeout: invalid duration \"-5m\"..." },
        { "idle_timeout: 0\n", "t.yaml:1:15: idle_timeout: must be greater than 0" },
        { "max_idle_timeout: 400d\n", "t.yaml:1:19: max_idle_timeout: \"400d\" is too long (at most 365d)" },
        { "idle_timeout: 99999999999999999999s\n",
          "t.yaml:1:15: idle_timeout: \"99999999999999999999s\" is too long (at most 365d)" },
        { "idle_timeout: 13h\n", "t.yaml:1:15: idle_timeout: 13h exceeds max_idle_timeout 12h" },
        { "max_idle_timeout: 1h\nidle_timeout: 1h30m\n",
          "t.yaml:2:15: idle_timeout: 1h30m exceeds max_idle_timeout 1h" },
        { "output_buffer_size: 4MB\n",
          "t.yaml:1:21: output_buffer_size: invalid size \"4MB\" (use bytes or 512KiB, 4MiB, 1GiB)" },
        { "output_buffer_size: 1KiB\n",
          "t.yaml:1:21: output_buffer_size: \"1KiB\" is out of range (4KiB to 1GiB)" },
        { "output_buffer_size: 2GiB\n",
          "t.yaml:1:21: output_buffer_size: \"2GiB\" is out of range (4KiB to 1GiB)" },
        { "output_buffering: fast\n", "t.yaml:1:19: output_buffering: expected block or drop, got \"fast\"" },
        { "output_buffering: [block]\n", "t.yaml:1:19: output_buffering: expected a value, got a list" },
        /* capabilities */
        { "run_as: root\ncapabilities: [CAP_NET_ADMIN, CAP_FLY]\n",
          "t.yaml:2:31: capabilities: unknown capability \"CAP_FLY\"" },
        { "run_as: root\ncapabilities: CAP_NET_ADMIN\n",
          "t.yaml:2:15: capabilities: expected a list, got a scalar" },
        { "run_as: root\ncapabilities: [net_admin, CAP_NET_ADMIN]\n",
          "t.yaml:2:27: capabilities: CAP_NET_ADMIN listed twice" },
        { "capabilities: [CAP_NET_ADMIN]\n",
          "t.yaml:1:1: capabilities: requires run_as (sessions running as the caller get no capabilities)" },
        /* umask */
        { "umask: 0999\n", "t.yaml:1:8: umask: expected an octal mode such as \"0077\", got \"0999\"" },
        { "umask: u=rwx\n", "t.yaml:1:8: umask: expected an octal mode such as \"0077\", got \"u=rwx\"" },
        { "umask: 1777\n", "t.yaml:1:8: umask: \"1777\" is out of range (at most 0777)" },
        /* paths */
        { "shell: bash\n", "t.yaml:1:8: shell: \"bash\" is not an absolute path" },
        { "shell: /bin/../bin/bash\n", "t.yaml:1:8: shell: \"/bin/../bin/bash\" is not a normalized path..." },
        { "shell: /bin//bash\n", "t.yaml:1:8: shell: \"/bin//bash\" is not a normalized path..." },
        { "commands: [/usr/bin/uptime, df]\n", "t.yaml:1:29: commands: \"df\" is not an absolute path" },
        { "commands: [/usr/bin/df, /usr/bin/df]\n", "t.yaml:1:25: commands: \"/usr/bin/df\" listed twice" },
        { "commands: []\n", "t.yaml:1:11: commands: must list at least one program (omit the key for a shell)" },
        { "commands: /usr/bin/df\n", "t.yaml:1:11: commands: expected a list, got a scalar" },
        { "shell: /bin/sh\ncommands: [/bin/ls]\n",
          "t.yaml:2:1: commands: shell and commands cannot both be set (a configuration with commands has no shell)" },
        { "working_directory: tmp\n",
          "t.yaml:1:20: working_directory: \"tmp\" is not an absolute path, \"~\" or \"~/...\"" },
        { "working_directory: ~alice\n",
          "t.yaml:1:20: working_directory: \"~alice\" is not an absolute path, \"~\" or \"~/...\"" },
        /* users and groups */
        { "run_as: nosuchuser\n", "t.yaml:1:9: run_as: unknown user \"nosuchuser\"" },
        { "run_as: \"bad name\"\n", "t.yaml:1:9: run_as: invalid user name \"bad name\"" },
        { "run_as: 0\n", "t.yaml:1:9: run_as: invalid user name \"0\"" },
        { "run_as: lookupfail\n", "t.yaml:1:9: run_as: cannot look up user \"lookupfail\": Input/output error" },
        { "access:\n  users: [alice, mallory]\n", "t.yaml:2:18: access.users: unknown user \"mallory\"" },
        { "access:\n  groups: [nogroup]\n", "t.yaml:2:12: access.groups: unknown group \"nogroup\"" },
        { "access:\n  users: [alice, alice]\n", "t.yaml:2:18: access.users: \"alice\" listed twice" },
        { "access: {}\n",
          "t.yaml:1:9: access: must list at least one user or group (omit the key to allow everyone)" },
        { "access:\n  user: [alice]\n", "t.yaml:2:3: access.user: unknown key (did you mean \"users\"?)" },
        { "access: [alice]\n", "t.yaml:1:9: access: expected a mapping, got a list" },
        { "access:\n  users: alice\n", "t.yaml:2:10: access.users: expected a list, got a scalar" },
        { "access:\n  users: [[alice]]\n", "t.yaml:2:11: access.users: expected a value, got a list" },
        /* observers */
        { "observers: []\n", "t.yaml:1:12: observers: must list at least one user or group (omit the key for none)" },
        { "observers: {}\n", "t.yaml:1:12: observers: must list at least one user or group (omit the key for none)" },
        { "observers: carol\n", "t.yaml:1:12: observers: expected a list, got a scalar" },
        { "observers: [carol, mallory]\n", "t.yaml:1:20: observers: unknown user \"mallory\"" },
        { "observers:\n  - \"@nogroup\"\n", "t.yaml:2:5: observers: unknown group \"nogroup\"" },
        { "observers: [\"@\"]\n", "t.yaml:1:13: observers: invalid group name \"\"" },
        { "observers: [carol, carol]\n", "t.yaml:1:20: observers: \"carol\" listed twice" },
        { "observers: [\"@sre\", \"@sre\"]\n", "t.yaml:1:21: observers: \"@sre\" listed twice" },
        { "observers: {users: [mallory]}\n", "t.yaml:1:21: observers.users: unknown user \"mallory\"" },
        { "observers: {user: [carol]}\n", "t.yaml:1:13: observers.user: unknown key (did you mean \"users\"?)" },
        { "commands: [/bin/true]\nobservers: [carol]\n",
          "t.yaml:2:1: observers: requires a shell (a configuration with commands has no terminal sessions to watch)" },
        /* sharing */
        { "share_with_access: true\n", "t.yaml:1:20: share_with_access: requires run_as" },
        { "run_as: root\nshare_with_access: true\n",
          "t.yaml:2:20: share_with_access: requires an access list (it would share sessions with everyone)" },
        /* hooks */
        { "on_finish: \"\"\n", "t.yaml:1:12: on_finish: must be a command of 1 to 4096 bytes" },
        { "on_finish: \"a\\nb\"\n", "t.yaml:1:12: on_finish: must be one line without control characters" },
        { "on_finish: [a]\n", "t.yaml:1:12: on_finish: expected a value, got a list" },
        { "commands: [/bin/true]\non_finish: mail\n",
          "t.yaml:2:1: on_finish: requires a shell (a configuration with commands runs no hooks)" },
        { "allow_on_finish: false\non_finish: mail\n",
          "t.yaml:2:1: on_finish: cannot be set with allow_on_finish: false" },
        { "commands: [/bin/true]\nallow_on_finish: true\n",
          "t.yaml:2:18: allow_on_finish: cannot be true with commands (a configuration with commands runs no hooks)" },
        /* environment */
        { "environment:\n  LANG: C\n  LANG: C.UTF-8\n",
          "t.yaml:3:3: environment.LANG: duplicate key (already given at line 2)" },
        { "environment:\n  1BAD: x\n", "t.yaml:2:3: environment.1BAD: invalid variable name \"1BAD\"..." },
        { "environment:\n  \"A=B\": x\n", "t.yaml:2:3: environment.\"A=B\": invalid variable name \"A=B\"..." },
        { "environment: [LANG=C]\n", "t.yaml:1:14: environment: expected a mapping, got a list" },
        { "environment:\n  FOO:\n", "t.yaml:2:7: environment.FOO: missing value" },
        { "environment:\n  FOO: [a]\n", "t.yaml:2:8: environment.FOO: expected a value, got a list" },
        /* limits */
        { "limits:\n  nofile: lots\n", "t.yaml:2:11: limits.nofile: expected a number or infinity, got \"lots\"" },
        { "limits:\n  nofiles: 10\n", "t.yaml:2:3: limits.nofiles: unknown key (did you mean \"nofile\"?)" },
        { "limits:\n  priority: 10\n", "t.yaml:2:3: limits.priority: unknown key" },
        { "limits:\n  nice: 50\n", "t.yaml:2:9: limits.nice: \"50\" is out of range (at most 40)" },
        { "limits: {stack: 8MB}\n",
          "t.yaml:1:17: limits.stack: expected a number, a size (512KiB, 4MiB, 1GiB) or infinity, got \"8MB\"" },
        { "limits: {cpu: soon}\n",
          "t.yaml:1:15: limits.cpu: expected a number, a duration (30s, 5m, 2h) or infinity, got \"soon\"" },
        { "limits: {nofile: 18446744073709551615}\n",
          "t.yaml:1:18: limits.nofile: \"18446744073709551615\" is out of range" },
        { "limits: [nofile]\n", "t.yaml:1:9: limits: expected a mapping, got a list" },
};

static void test_bad(void) {
        ok(ELEMENTSOF(bad) >= 35, "at least 35 bad configurations (%zu)", ELEMENTSOF(bad));

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                SessionConfig *c = NULL;
                _cleanup_free_ char *error = NULL;
                size_t n = strlen(bad[i].message);
                bool prefix = n > 3 && streq(bad[i].message + n - 3, "...");
                int r;

                r = parse(bad[i].text, &c, &error);
                if (!ok(r == -EINVAL && !c && error &&
                        (prefix ? strncmp(error, bad[i].message, n - 3) == 0 : streq(error, bad[i].message)),
                        "bad #%zu: %s", i, bad[i].message)) {
                        diag("r=%d", r);
                        diag("got:      %s", strempty(error));
                }
                config_session_unref(c);
        }
}

static void test_no_lookup(void) {
        _cleanup_session_config_ SessionConfig *c = NULL;
        _cleanup_free_ char *error = NULL;
        const char *text = "run_as: someone-unknown\naccess: {groups: [whoever]}\n";
        int r;

        r = config_session_parse(text, strlen(text), "t.yaml", NULL, &c, &error);
        is_int(r, 0, "without a lookup, unknown users and groups are not checked");
        r = config_session_parse("run_as: \"x y\"\n", 14, "t.yaml", NULL, NULL, NULL);
        is_int(r, -EINVAL, "without a lookup, names are still validated (and NULL ret/ret_error work)");
}

/* ---------------------------------------------------------------- dwelld.yaml */

static void test_daemon(void) {
        static const struct {
                const char *text;
                const char *message;
        } t[] = {
                { "socket: run/dwelld.sock\n", "d.yaml:1:9: socket: \"run/dwelld.sock\" is not an absolute path" },
                { "admin_groups: wheel\n", "d.yaml:1:15: admin_groups: expected a list, got a scalar" },
                { "admin_groups: [wheel, nogroup]\n", "d.yaml:1:23: admin_groups: unknown group \"nogroup\"" },
                { "heartbeat_interval: 0\n", "d.yaml:1:21: heartbeat_interval: must be greater than 0" },
                { "heartbeat_interval: 2h\n", "d.yaml:1:21: heartbeat_interval: \"2h\" is too long (at most 1h)" },
                { "auth_cache: soon\n", "d.yaml:1:13: auth_cache: invalid duration \"soon\"..." },
                { "max_sessions: many\n", "d.yaml:1:15: max_sessions: expected an integer, got \"many\"" },
                { "max_connections_per_user: 0\n",
                  "d.yaml:1:27: max_connections_per_user: must be at least 1 (omit the key for no limit)" },
                { "auth_prompt_timeout: 0\n", "d.yaml:1:22: auth_prompt_timeout: must be greater than 0" },
                { "auth_prompt_timeout: 1h\n", "d.yaml:1:22: auth_prompt_timeout: \"1h\" is too long (at most 10m)" },
                { "shell: /bin/sh\n", "d.yaml:1:1: shell: unknown key" },
                { "socket: /a\nsocket: /b\n", "d.yaml:2:1: socket: duplicate key (already given at line 1)" },
                { "", "d.yaml:1:1: empty file: expected a mapping of settings" },
                { "[]\n", "d.yaml:1:1: expected a mapping of settings at the top level, got a list" },
        };
        const char *good =
                "socket: /run/dwell-test/dwelld.sock\n"
                "state_dir: /run/dwell-test\n"
                "transcript_dir: /var/log/dwell-test\n"
                "admin_groups: [wheel, adm]\n"
                "heartbeat_interval: 5s\n"
                "max_sessions: 500\n"
                "max_sessions_per_user: 20\n"
                "auth_cache: 0\n"
                "max_connections: 300\n"
                "max_connections_per_user: 30\n"
                "max_pending_per_user: 3\n"
                "auth_prompt_timeout: 20s\n"
                "auth_failure_delay: 0\n"
                "auth_failure_delay_max: 1m\n"
                "auth_lockout_failures: 4\n"
                "auth_lockout_window: 1h\n";
        _cleanup_free_ char *error = NULL;
        DaemonConfig d;
        int r;

        r = config_daemon_parse("{}", 2, "d.yaml", &lookup, &d, &error);
        is_int(r, 0, "dwelld.yaml: an empty mapping parses");
        if (r >= 0) {
                ok(!d.socket && !d.state_dir && !d.transcript_dir && !d.admin_groups, "dwelld.yaml: default paths");
                is_int(d.heartbeat_interval, 10 * SEC, "dwelld.yaml: default heartbeat_interval 10s");
                is_int(d.auth_cache, 10 * SEC, "dwelld.yaml: default auth_cache 10s");
                ok(d.max_sessions == 0 && d.max_sessions_per_user == 0, "dwelld.yaml: no default caps");
                ok(d.max_connections == 1024 && d.max_connections_per_user == 64 && d.max_pending_per_user == 16,
                   "dwelld.yaml: default connection caps 1024, 64 per user, 16 pending per user");
                ok(d.auth_prompt_timeout == 30 * SEC && d.auth_failure_delay == 1 * SEC &&
                   d.auth_failure_delay_max == 30 * SEC && d.auth_lockout_failures == 10 &&
                   d.auth_lockout_window == 900 * SEC, "dwelld.yaml: default --credential settings");
                config_daemon_done(&d);
        }

        r = config_daemon_parse(good, strlen(good), "d.yaml", &lookup, &d, &error);
        is_int(r, 0, "dwelld.yaml: every key parses");
        if (r >= 0) {
                is_str(d.socket, "/run/dwell-test/dwelld.sock", "dwelld.yaml: socket");
                is_str(d.state_dir, "/run/dwell-test", "dwelld.yaml: state_dir");
                is_str(d.transcript_dir, "/var/log/dwell-test", "dwelld.yaml: transcript_dir");
                ok(d.admin_groups && streq(d.admin_groups[0], "wheel") && streq(d.admin_groups[1], "adm") &&
                   !d.admin_groups[2], "dwelld.yaml: admin_groups");
                is_int(d.heartbeat_interval, 5 * SEC, "dwelld.yaml: heartbeat_interval");
                is_int(d.max_sessions, 500, "dwelld.yaml: max_sessions");
                is_int(d.max_sessions_per_user, 20, "dwelld.yaml: max_sessions_per_user");
                is_int(d.auth_cache, 0, "dwelld.yaml: auth_cache 0 disables caching");
                ok(d.max_connections == 300 && d.max_connections_per_user == 30 && d.max_pending_per_user == 3,
                   "dwelld.yaml: connection caps");
                ok(d.auth_prompt_timeout == 20 * SEC && d.auth_failure_delay == 0 &&
                   d.auth_failure_delay_max == 60 * SEC && d.auth_lockout_failures == 4 &&
                   d.auth_lockout_window == 3600 * SEC, "dwelld.yaml: --credential settings");
                config_daemon_done(&d);
        }

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_free_ char *e = NULL;
                size_t n = strlen(t[i].message);
                bool prefix = n > 3 && streq(t[i].message + n - 3, "...");

                r = config_daemon_parse(t[i].text, strlen(t[i].text), "d.yaml", &lookup, &d, &e);
                if (!ok(r == -EINVAL && e &&
                        (prefix ? strncmp(e, t[i].message, n - 3) == 0 : streq(e, t[i].message)),
                        "dwelld.yaml bad #%zu: %s", i, t[i].message))
                        diag("got: %s", strempty(e));
                if (r >= 0)
                        config_daemon_done(&d);
        }
}

/* ---------------------------------------------------------------- options.yaml */

static void test_user_options(void) {
        static const struct {
                const char *text;
                const char *message;
        } t[] = {
                { "idle_timeout: 1x\n", "o.yaml:1:15: idle_timeout: invalid duration \"1x\"..." },
                { "output_buffering: none\n", "o.yaml:1:19: output_buffering: expected block or drop, got \"none\"" },
                { "shell: /bin/sh\n", "o.yaml:1:1: shell: unknown key" },
                { "idle_timout: 1h\n", "o.yaml:1:1: idle_timout: unknown key (did you mean \"idle_timeout\"?)" },
                { "[]\n", "o.yaml:1:1: expected a mapping of settings at the top level, got a list" },
                { "idle_timeout: [1h]\n", "o.yaml:1:15: idle_timeout: expected a value, got a list" },
                { "detach_keys: ctrl-1\n", "o.yaml:1:14: detach_keys: must be up to 8 comma-separated keys..." },
                { "detach_keys: a,b,c,d,e,f,g,h,i\n", "o.yaml:1:14: detach_keys: must be up to 8..." },
                { "detach_keys: ctrl-a,,d\n", "o.yaml:1:14: detach_keys: must be up to 8..." },
        };
        _cleanup_free_ char *error = NULL;
        const char *good = "idle_timeout: 4h\noutput_buffering: drop\non_finish: 'mail -s \"$DWELL_SESSION\" me'\n"
                           "detach_keys: ctrl-a,d\n";
        UserOptions o;
        int r;

        r = config_user_options_parse(good, strlen(good), "o.yaml", &o, &error);
        is_int(r, 0, "options.yaml parses");
        is_int(o.idle_timeout, 4 * 3600 * SEC, "options.yaml: idle_timeout");
        is_int(o.output_buffering, BUFFERING_DROP, "options.yaml: output_buffering");
        is_str(o.on_finish, "mail -s \"$DWELL_SESSION\" me", "options.yaml: on_finish");
        is_str(o.detach_keys, "ctrl-a,d", "options.yaml: detach_keys");

        r = config_user_options_parse("reconnect_timeout: 0\n", 21, "o.yaml", &o, &error);
        ok(r == 0 && o.reconnect_timeout_set && o.reconnect_timeout == 0, "options.yaml: reconnect_timeout: 0 (disabled)");
        r = config_user_options_parse("reconnect_timeout: 10m\n", 23, "o.yaml", &o, &error);
        ok(r == 0 && o.reconnect_timeout_set && o.reconnect_timeout == 600 * SEC, "options.yaml: reconnect_timeout: 10m");

        r = config_user_options_parse("{}\n", 3, "o.yaml", &o, &error);
        ok(r == 0 && o.idle_timeout == 0 && o.output_buffering == BUFFERING_UNSET && !o.reconnect_timeout_set,
           "options.yaml: {} sets nothing");

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_free_ char *e = NULL;
                size_t n = strlen(t[i].message);
                bool prefix = n > 3 && streq(t[i].message + n - 3, "...");

                r = config_user_options_parse(t[i].text, strlen(t[i].text), "o.yaml", &o, &e);
                if (!ok(r == -EINVAL && e &&
                        (prefix ? strncmp(e, t[i].message, n - 3) == 0 : streq(e, t[i].message)),
                        "options.yaml bad #%zu: %s", i, t[i].message))
                        diag("got: %s", strempty(e));
        }
}

/* ---------------------------------------------------------------- names */

static void test_names(void) {
        static const struct {
                const char *path;
                const char *name;       /* NULL: -EINVAL */
        } t[] = {
                { "/etc/dwell/configurations.d/netops.yaml", "netops" },
                { "default.yaml", "default" },
                { "a/b/on-call_2.v1.yaml", "on-call_2.v1" },
                { "/etc/dwell/configurations.d/.yaml", NULL },
                { "/etc/dwell/configurations.d/.hidden.yaml", NULL },
                { "/etc/dwell/configurations.d/-x.yaml", NULL },
                { "netops.yml", NULL },
                { "netops.yaml.example", NULL },
                { "net ops.yaml", NULL },
                { "net:ops.yaml", NULL },
                { "/", NULL },
                { "", NULL },
                { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.yaml", NULL }, /* 65 */
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_free_ char *name = NULL;
                int r = config_session_name_from_path(t[i].path, &name);

                if (t[i].name)
                        ok(r == 0 && streq_ptr(name, t[i].name), "name of \"%s\" is %s", t[i].path, t[i].name);
                else
                        ok(r == -EINVAL && !name, "\"%s\" is not a configuration file name", t[i].path);
        }

        is_int(config_capability_from_string("CAP_NET_ADMIN"), 12, "CAP_NET_ADMIN = 12");
        is_int(config_capability_from_string("net_admin"), 12, "net_admin = 12");
        is_int(config_capability_from_string("Cap_Sys_Admin"), 21, "Cap_Sys_Admin = 21");
        is_int(config_capability_from_string("CAP_CHECKPOINT_RESTORE"), 40, "CAP_CHECKPOINT_RESTORE = 40");
        is_int(config_capability_from_string("CAP_"), -EINVAL, "CAP_ alone is unknown");
        is_int(config_capability_from_string("12"), -EINVAL, "numbers are not names");
        is_str(config_capability_to_string(13), "CAP_NET_RAW", "13 = CAP_NET_RAW");
        is_str(config_capability_to_string(64), NULL, "64 has no name");
        is_int(config_limit_from_string("nofile"), RLIMIT_NOFILE, "nofile = RLIMIT_NOFILE");
        is_str(config_limit_to_string(RLIMIT_MEMLOCK), "memlock", "RLIMIT_MEMLOCK = memlock");
}

/* ---------------------------------------------------------------- files */

static int write_temp(char *template, const char *data, size_t size) {
        int fd = mkstemps(template, 5);
        bool good;

        if (fd < 0)
                return -errno;
        good = write(fd, data, size) == (ssize_t) size;
        close(fd);
        return good ? 0 : -EIO;
}

static void test_files(void) {
        char path[] = "/tmp/test-config-XXXXXX.yaml";
        _cleanup_session_config_ SessionConfig *c = NULL;
        _cleanup_free_ char *error = NULL, *big = NULL, *name = NULL;
        const char *text = "description: from a file\nidle_timeout: 1h\n";
        DaemonConfig d;
        UserOptions o;
        int r;

        if (write_temp(path, text, strlen(text)) < 0) {
                ok(false, "temporary file");
                return;
        }
        r = config_session_load_file(path, &lookup, &c, &error);
        is_int(r, 0, "config_session_load_file");
        r = config_session_name_from_path(path, &name);
        ok(r == 0 && c && streq_ptr(c->name, name), "the loader names the configuration after the file");
        ok(c && streq_ptr(c->description, "from a file"), "the loaded file's content");
        unlink(path);

        free(error);
        error = NULL;
        r = config_session_load_file("/nonexistent/dir/x.yaml", &lookup, NULL, &error);
        ok(r == -ENOENT && error && streq(error, "/nonexistent/dir/x.yaml: No such file or directory"),
           "missing file: -ENOENT with a message");

        free(error);
        error = NULL;
        r = config_session_load_file("/tmp/bad name.yaml", &lookup, NULL, &error);
        ok(r == -EINVAL && error && strncmp(error, "/tmp/bad name.yaml: invalid configuration file name", 51) == 0,
           "bad file name: -EINVAL with a message");

        free(error);
        error = NULL;
        big = malloc(CONFIG_FILE_MAX + 2);
        if (big) {
                char path2[] = "/tmp/test-config-XXXXXX.yaml";

                memset(big, '#', CONFIG_FILE_MAX + 1);
                if (write_temp(path2, big, CONFIG_FILE_MAX + 1) == 0) {
                        r = config_session_load_file(path2, &lookup, NULL, &error);
                        ok(r == -EFBIG && error && strstr(error, "file too large"), "a file over 1 MiB is refused");
                        unlink(path2);
                } else
                        ok(false, "temporary big file");
        }

        free(error);
        error = NULL;
        {
                char path3[] = "/tmp/test-config-XXXXXX.yaml";
                const char *bad_text = "description: x\nshell: sh\n";

                if (write_temp(path3, bad_text, strlen(bad_text)) == 0) {
                        _cleanup_free_ char *want = NULL;

                        r = config_session_load_file(path3, &lookup, NULL, &error);
                        if (asprintf(&want, "%s:2:8: shell: \"sh\" is not an absolute path", path3) < 0)
                                want = NULL;
                        ok(r == -EINVAL && error && want && streq(error, want),
                           "a bad file's message names the file path");
                        unlink(path3);
                }
        }

        free(error);
        error = NULL;
        {
                char path4[] = "/tmp/test-config-XXXXXX.yaml";
                const char *dtext = "admin_groups: [wheel]\n";

                if (write_temp(path4, dtext, strlen(dtext)) == 0) {
                        r = config_daemon_load_file(path4, &lookup, &d, &error);
                        ok(r == 0 && d.admin_groups && streq(d.admin_groups[0], "wheel"), "config_daemon_load_file");
                        if (r >= 0)
                                config_daemon_done(&d);
                        r = config_user_options_load_file(path4, &o, &error);
                        ok(r == -EINVAL && error && strstr(error, ":1:1: admin_groups: unknown key"),
                           "config_user_options_load_file refuses daemon keys");
                        unlink(path4);
                }
        }
        free(error);
        error = NULL;
        r = config_daemon_load_file("/tmp", &lookup, &d, &error);
        ok(r < 0 && error && strstr(error, "not a regular file"), "a directory is not a configuration file");
}

/* ---------------------------------------------------------------- several errors */

static const struct {
        const char *text;
        const char *message;
} several[] = {
        /* three independent errors, in the order of the file */
        { "shel: /bin/sh\ntranscript: yes\nlimits:\n  nofile: lots\n",
          "t.yaml:1:1: shel: unknown key (did you mean \"shell\"?)\n"
          "t.yaml:2:13: transcript: expected true or false, got \"yes\"\n"
          "t.yaml:4:11: limits.nofile: expected a number or infinity, got \"lots\"" },
        /* several in one list, nested mappings and a combination */
        { "access:\n  users: [mallory, alice, alice]\n  groups: [nogroup]\n"
          "commands: [df, /bin/ls, /bin/ls]\nenvironment:\n  1BAD: x\n  GOOD: [y]\n"
          "capabilities: [CAP_NET_ADMIN]\n",
          "t.yaml:2:11: access.users: unknown user \"mallory\"\n"
          "t.yaml:2:27: access.users: \"alice\" listed twice\n"
          "t.yaml:3:12: access.groups: unknown group \"nogroup\"\n"
          "t.yaml:4:12: commands: \"df\" is not an absolute path\n"
          "t.yaml:4:25: commands: \"/bin/ls\" listed twice\n"
          "t.yaml:6:3: environment.1BAD: invalid variable name \"1BAD\" (letters, digits and _, not starting "
          "with a digit, at most 128)\n"
          "t.yaml:7:9: environment.GOOD: expected a value, got a list\n"
          "t.yaml:8:1: capabilities: requires run_as (sessions running as the caller get no capabilities)" },
        /* a refused key does not bring a misleading second error */
        { "run_as: nosuchuser\ncapabilities: [CAP_NET_ADMIN]\naccess:\n  users: alice\n"
          "max_idle_timeout: forever\nidle_timeout: 13h\n",
          "t.yaml:1:9: run_as: unknown user \"nosuchuser\"\n"
          "t.yaml:4:10: access.users: expected a list, got a scalar\n"
          "t.yaml:5:19: max_idle_timeout: invalid duration \"forever\" (use a number of seconds or 30s, 5m, 2h, "
          "1d, 1h30m)" },
        /* duplicate keys after a refused one */
        { "? [a]\n: 1\nshell: bash\nshell: /bin/sh\n",
          "t.yaml:1:3: keys must be strings, got a list\n"
          "t.yaml:3:8: shell: \"bash\" is not an absolute path\n"
          "t.yaml:4:1: shell: duplicate key (already given at line 3)" },
};

static void test_several_errors(void) {
        _cleanup_free_ char *text = NULL, *error = NULL;
        size_t size = 0, lines = 0;
        UserOptions o;
        DaemonConfig d;
        FILE *f;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(several); i++) {
                SessionConfig *c = NULL;
                _cleanup_free_ char *e = NULL;

                r = parse(several[i].text, &c, &e);
                if (!ok(r == -EINVAL && !c && e && streq(e, several[i].message), "several errors #%zu", i)) {
                        diag("want: %s", several[i].message);
                        diag("got:  %s", strempty(e));
                }
                config_session_unref(c);
        }

        /* dwelld.yaml and options.yaml */
        static const char daemon_text[] = "socket: run/x\nmax_sessions: 0\nadmin_groups: [wheel, nogroup]\nfoo: 1\n";
        static const char options_text[] = "idle_timeout: 0\noutput_buffering: fast\n";

        r = config_daemon_parse(daemon_text, strlen(daemon_text), "d.yaml", &lookup, &d, &error);
        ok(r == -EINVAL && error && streq(error,
                "d.yaml:1:9: socket: \"run/x\" is not an absolute path\n"
                "d.yaml:2:15: max_sessions: must be at least 1 (omit the key for no limit)\n"
                "d.yaml:3:23: admin_groups: unknown group \"nogroup\"\n"
                "d.yaml:4:1: foo: unknown key"), "dwelld.yaml: four errors");
        free(error);
        error = NULL;
        r = config_user_options_parse(options_text, strlen(options_text), "o.yaml", &o, &error);
        ok(r == -EINVAL && error && streq(error,
                "o.yaml:1:15: idle_timeout: must be greater than 0\n"
                "o.yaml:2:19: output_buffering: expected block or drop, got \"fast\""), "options.yaml: two errors");
        free(error);
        error = NULL;

        /* the bound: 30 unknown keys give 20 lines and a count */
        f = open_memstream(&text, &size);
        if (!f)
                return;
        for (int i = 0; i < 30; i++)
                fprintf(f, "unknown%02d: 1\n", i);
        fclose(f);
        r = parse(text, NULL, &error);
        for (const char *s = error; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : "")
                lines++;
        ok(r == -EINVAL && error && lines == 21 && strstr(error, "t.yaml:20:1: unknown19: unknown key\n") &&
           !strstr(error, "unknown20") && strstr(error, "\nt.yaml: and 10 more errors") &&
           error[strlen(error) - 1] != '\n', "at most 20 errors, then \"and N more\"");
}

/* ---------------------------------------------------------------- shipped policy */

static bool strv_contains_for_test(char * const *l, const char *s) {
        for (size_t i = 0; l && l[i]; i++)
                if (streq(l[i], s))
                        return true;
        return false;
}

static void test_policy(void) {
        static const char * const files[] = {
                "default.yaml", "netops.yaml.example", "diagnostics.yaml.example", "oncall.yaml.example",
        };
        const char *top = getenv("top_srcdir");

        if (!top) {
                diag("top_srcdir not set: skipping the shipped policy files");
                ok(true, "# SKIP top_srcdir not set");
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_session_config_ SessionConfig *c = NULL;
                _cleanup_free_ char *path = NULL, *error = NULL, *data = NULL;
                size_t size = 0;
                FILE *f;
                int r;

                if (asprintf(&path, "%s/policy/%s", top, files[i]) < 0)
                        return;
                /* The examples are not NAME.yaml, so read them by hand. */
                f = fopen(path, "re");
                if (!f) {
                        ok(false, "policy/%s exists", files[i]);
                        continue;
                }
                data = malloc(CONFIG_FILE_MAX);
                if (data)
                        size = fread(data, 1, CONFIG_FILE_MAX, f);
                fclose(f);
                r = config_session_parse(data, size, path, &lookup, &c, &error);
                if (!ok(r == 0, "policy/%s parses", files[i])) {
                        diag("%s", strempty(error));
                        continue;
                }
                ok(round_trip(c), "policy/%s round trip", files[i]);

                if (i == 0) {
                        _cleanup_session_config_ SessionConfig *builtin = config_session_new_default();

                        free(c->name);
                        c->name = strdup("default");
                        ok(config_session_equal(c, builtin), "policy/default.yaml is the built-in default");
                } else if (i == 1)
                        ok(streq_ptr(c->run_as, "root") &&
                           c->capabilities == ((UINT64_C(1) << 12) | (UINT64_C(1) << 13)) &&
                           c->share_with_access && c->access_groups && streq(c->access_groups[0], "netadmins"),
                           "netops: root with CAP_NET_ADMIN and CAP_NET_RAW, shared with netadmins");
                else if (i == 2)
                        ok(!c->shell && c->commands && strv_contains_for_test(c->commands, "/usr/bin/uptime") &&
                           strv_contains_for_test(c->commands, "/usr/bin/journalctl") && !c->run_as,
                           "diagnostics: restricted commands, no shell");
                else
                        ok(c->run_as && c->share_with_access && c->transcript,
                           "oncall: run_as a service account, shared, with a transcript");
        }
}

int main(void) {
        plan(0);
        test_full();
        test_defaults();
        test_observers();
        test_misc_good();
        test_bad();
        test_several_errors();
        test_no_lookup();
        test_daemon();
        test_user_options();
        test_names();
        test_files();
        test_policy();
        return done_testing();
}
