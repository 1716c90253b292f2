/* SPDX-License-Identifier: ISC */
/*
 * OSC 133 shell integration: the bash hooks and the parsing of their marks
 * (osc133.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "macro.h"
#include "osc133.h"

/* Run by the shell through PROMPT_COMMAND at its first prompt, once its rc
 * files have run.  __dwell_pre (first in PROMPT_COMMAND) reports the exit
 * status of the command line that ran, if one did (PS0 sets __dwell_ran
 * through an arithmetic subscript, which assigns in the shell itself while
 * the prompt is expanded, and prints nothing); __dwell_post (last) makes
 * sure PS1 and PS0 still carry the marks after whatever the user's own
 * PROMPT_COMMAND did to them, and remembers the history number the next
 * command line gets: a line history did not save (HISTCONTROL ignorespace
 * or ignoredups, set +o history) gets an empty cmdline_url rather than the
 * text of an earlier one.  $? is kept for the user's hooks and prompt. */
const char osc133_bash_script[] =
        "# dwell: shell-integration marks (OSC 133) for a terminal session's bash.\n"
        "# Run once, from PROMPT_COMMAND, at the first prompt (after the rc files).\n"
        "if [[ -z ${__dwell_nonce-} && ${DWELL_OSC133_NONCE-} =~ ^[0-9a-f]{32}$ ]]; then\n"
        "declare -gr __dwell_nonce=$DWELL_OSC133_NONCE\n"
        "__dwell_a=$'\\e]133;A;nonce='$__dwell_nonce$'\\a'\n"
        "__dwell_b=$'\\e]133;B;nonce='$__dwell_nonce$'\\a'\n"
        "__dwell_ran= __dwell_status=0 __dwell_hist=0\n"
        "__dwell_enc() {\n"
        "\tlocal LC_ALL=C s=$1 o= c i\n"
        "\tif [[ $s != *[^\\ -\\$\\&-:\\<-~]* ]]; then\n"
        "\t\tREPLY=${s:0:3600}\n"
        "\t\treturn\n"
        "\tfi\n"
        "\tfor ((i = 0; i < ${#s} && ${#o} < 3600; i++)); do\n"
        "\t\tc=${s:i:1}\n"
        "\t\tcase $c in\n"
        "\t\t[\\ -\\$\\&-:\\<-~]) o+=$c ;;\n"
        "\t\t*) builtin printf -v c '%%%02X' \"'$c\"; o+=$c ;;\n"
        "\t\tesac\n"
        "\tdone\n"
        "\tREPLY=$o\n"
        "}\n"
        "__dwell_preexec() {\n"
        "\tlocal l n\n"
        "\tl=$(HISTTIMEFORMAT= builtin history 1)\n"
        "\tl=${l#\"${l%%[![:space:]]*}\"}\n"
        "\tn=${l%%[![:digit:]]*}\n"
        "\tl=${l#\"$n\"}\n"
        "\tl=${l#  }\n"
        "\t[[ -n $n ]] && (( n >= __dwell_hist )) || l=\n"
        "\t__dwell_enc \"$l\"\n"
        "\tbuiltin printf '\\e]133;C;nonce=%s;cmdline_url=%s\\a' \"$__dwell_nonce\" \"$REPLY\"\n"
        "}\n"
        "__dwell_pre() {\n"
        "\tlocal s=$?\n"
        "\tif [[ $__dwell_ran == 1 ]]; then\n"
        "\t\tbuiltin printf '\\e]133;D;%s;nonce=%s\\a' \"$s\" \"$__dwell_nonce\"\n"
        "\t\t__dwell_ran=\n"
        "\tfi\n"
        "\t__dwell_status=$s\n"
        "\treturn $s\n"
        "}\n"
        "__dwell_post() {\n"
        "\tif [[ $PS1 != *\"$__dwell_b\"* ]]; then\n"
        "\t\tPS1=${PS1//\"\\\\[$__dwell_a\\\\]\"/}\n"
        "\t\tPS1=\"\\\\[$__dwell_a\\\\]$PS1\\\\[$__dwell_b\\\\]\"\n"
        "\tfi\n"
        "\tif [[ $PS0 != *__dwell_preexec* ]]; then\n"
        "\t\tPS0=\"\\${__dwell_x[__dwell_ran=1]-}\\$(__dwell_preexec)$PS0\"\n"
        "\tfi\n"
        "\t__dwell_hist=$HISTCMD\n"
        "\treturn $__dwell_status\n"
        "}\n"
        "__dwell_pc=$(declare -p PROMPT_COMMAND 2>/dev/null)\n"
        "if [[ $__dwell_pc == \"declare -a\"* ]]; then\n"
        "\t__dwell_pcs=()\n"
        "\tfor __dwell_x in \"${PROMPT_COMMAND[@]}\"; do\n"
        "\t\t[[ $__dwell_x == 'eval \"${DWELL_SHELL_INTEGRATION-}\"' ]] && __dwell_x=:\n"
        "\t\t__dwell_pcs+=(\"$__dwell_x\")\n"
        "\tdone\n"
        "\tPROMPT_COMMAND=(__dwell_pre \"${__dwell_pcs[@]}\" __dwell_post)\n"
        "\tunset __dwell_pcs\n"
        "else\n"
        "\t__dwell_pc=${PROMPT_COMMAND//'eval \"${DWELL_SHELL_INTEGRATION-}\"'/:}\n"
        "\tPROMPT_COMMAND=$'__dwell_pre\\n'$__dwell_pc$'\\n__dwell_post'\n"
        "fi\n"
        "unset __dwell_pc __dwell_x\n"
        "export -n PROMPT_COMMAND\n"
        "__dwell_post\n"
        "fi\n"
        "unset DWELL_OSC133_NONCE DWELL_SHELL_INTEGRATION\n";

int osc133_nonce_new(char ret[static OSC133_NONCE_LEN + 1]) {
        static const char hex[] = "0123456789abcdef";
        uint8_t b[OSC133_NONCE_LEN / 2];

        if (getrandom(b, sizeof b, 0) != (ssize_t) sizeof b)
                return -EIO;
        for (size_t i = 0; i < sizeof b; i++) {
                ret[2 * i] = hex[b[i] >> 4];
                ret[2 * i + 1] = hex[b[i] & 15];
        }
        ret[OSC133_NONCE_LEN] = 0;
        return 0;
}

bool osc133_shell_supported(const char *shell) {
        const char *base;

        if (!shell)
                return false;
        base = strrchr(shell, '/');
        base = base ? base + 1 : shell;
        return streq(base, "bash");
}

void osc133_mark_done(Osc133Mark *m) {
        free(m->cmdline);
        *m = (Osc133Mark) { .status = -1 };
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Percent-decoding; NULs and control bytes (other than TAB and LF) become
 * '?', so that the text is safe in a record and escaped the usual way in
 * audit lines.  At most OSC133_CMDLINE_MAX bytes. */
static char *decode_url(const char *p, size_t n) {
        char *s = malloc(MIN(n, (size_t) OSC133_CMDLINE_MAX) + 1);
        size_t o = 0;

        if (!s)
                return NULL;
        for (size_t i = 0; i < n && o < OSC133_CMDLINE_MAX; i++) {
                int c = (unsigned char) p[i];

                if (c == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
                        c = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
                        i += 2;
                }
                if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
                        c = '?';
                s[o++] = (char) c;
        }
        s[o] = 0;
        return s;
}

static bool field_is(const char *f, size_t len, const char *key, const char **ret_value, size_t *ret_len) {
        size_t k = strlen(key);

        if (len < k || memcmp(f, key, k) != 0)
                return false;
        *ret_value = f + k;
        *ret_len = len - k;
        return true;
}

/* Constant time for equal lengths: the nonce is not revealed by timing. */
static bool nonce_equal(const char *a, size_t n, const char *nonce) {
        unsigned char d = 0;

        if (!nonce || n != OSC133_NONCE_LEN || strlen(nonce) != OSC133_NONCE_LEN)
                return false;
        for (size_t i = 0; i < n; i++)
                d |= (unsigned char) (a[i] ^ nonce[i]);
        return d == 0;
}

int osc133_parse(char kind, const char *args, size_t n, const char *nonce, Osc133Mark *ret) {
        const char *cmd = NULL;
        size_t cmd_len = 0;
        bool ours = false, first = true;
        int status = -1;

        *ret = (Osc133Mark) { .status = -1 };
        if (kind != 'A' && kind != 'B' && kind != 'C' && kind != 'D')
                return 0;
        for (size_t i = 0; i <= n;) {
                const char *f = args + i, *e = memchr(f, ';', n - i), *v;
                size_t len = e ? (size_t) (e - f) : n - i, vlen;

                if (field_is(f, len, "nonce=", &v, &vlen)) {
                        if (ours || !nonce_equal(v, vlen, nonce))
                                return 0;
                        ours = true;
                } else if (kind == 'C' && field_is(f, len, "cmdline_url=", &v, &vlen)) {
                        if (cmd)
                                return 0;
                        cmd = v;
                        cmd_len = vlen;
                } else if (kind == 'D' && first && len > 0 && len <= 3) {
                        unsigned x = 0;

                        for (size_t j = 0; j < len; j++) {
                                if (f[j] < '0' || f[j] > '9')
                                        return 0;
                                x = x * 10 + (unsigned) (f[j] - '0');
                        }
                        if (x > 255)
                                return 0;
                        status = (int) x;
                }
                /* Other keys (aid=, ...) are other terminals' business. */
                first = false;
                if (!e)
                        break;
                i += len + 1;
        }
        if (!ours)
                return 0;
        ret->kind = kind;
        ret->status = status;
        if (kind == 'C') {
                ret->cmdline = decode_url(cmd ? cmd : "", cmd_len);
                if (!ret->cmdline)
                        return -ENOMEM;
        }
        return 1;
}

void osc133_state_init(Osc133State *s, const char nonce[static OSC133_NONCE_LEN + 1]) {
        *s = (Osc133State) { .phase = OSC133_UNKNOWN, .tokens_milli = OSC133_BURST * 1000u };
        memcpy(s->nonce, nonce, OSC133_NONCE_LEN);
        s->nonce[OSC133_NONCE_LEN] = 0;
}

static bool take_token(Osc133State *s, uint64_t now) {
        if (now > s->tokens_usec) {
                uint64_t add = (now - s->tokens_usec) * OSC133_PER_SEC / 1000u;   /* thousandths */

                s->tokens_milli = (uint32_t) MIN((uint64_t) s->tokens_milli + add, (uint64_t) OSC133_BURST * 1000u);
                s->tokens_usec = now;
        }
        if (s->tokens_milli < 1000u)
                return false;
        s->tokens_milli -= 1000u;
        return true;
}

Osc133Action osc133_state_mark(Osc133State *s, char kind, const char *args, size_t n, uint64_t now,
                               Osc133Mark *m) {
        bool running = s->phase == OSC133_RUNNING;
        int r;

        r = osc133_parse(kind, args, n, s->nonce, m);
        if (r <= 0)
                return OSC133_NONE;
        switch (m->kind) {
        case 'A':
        case 'B':
                /* A new prompt (A) has an empty line: after a command,
                 * Ctrl-C, an invoked line dropped.  readline also redraws
                 * the prompt over a line being edited (Ctrl-L, a resize
                 * by the typer), which this cannot tell apart; invoke
                 * needs nobody attached anyway. */
                if (s->phase != OSC133_PROMPT || m->kind == 'A')
                        s->typed = false;
                s->phase = OSC133_PROMPT;
                /* A prompt while a command ran: its D was lost. */
                return running ? OSC133_FINISH : OSC133_NONE;
        case 'C':
                if (!take_token(s, now)) {
                        s->ignored++;
                        osc133_mark_done(m);
                        return OSC133_NONE;
                }
                s->phase = OSC133_RUNNING;
                s->typed = false;
                return running ? OSC133_FINISH_START : OSC133_START;
        case 'D':
                if (!running)
                        return OSC133_NONE;     /* no command line ran (an empty line, Ctrl-C) */
                s->phase = OSC133_PROMPT;
                s->typed = false;
                return OSC133_FINISH;
        default:
                return OSC133_NONE;
        }
}

bool osc133_state_idle(const Osc133State *s) {
        return s->phase == OSC133_PROMPT && !s->typed;
}
