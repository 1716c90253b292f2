/* SPDX-License-Identifier: ISC */
/*
 * Shell integration for terminal sessions: the OSC 133 marks (FinalTerm's
 * prompt / command / exit-status marks, which terminals such as kitty,
 * WezTerm, iTerm2 and VS Code understand) that turn each command line typed
 * at a terminal session's bash prompt into a command record.
 *
 * The worker starts a bash terminal shell with three variables in its
 * environment: PROMPT_COMMAND (OSC133_PROMPT_COMMAND: eval the next one),
 * DWELL_SHELL_INTEGRATION (osc133_bash_script) and DWELL_OSC133_NONCE (32
 * random hex digits, new for each session).  The shell reads its own rc
 * files as any login shell; at its first prompt the script moves the nonce
 * into a read-only, unexported shell variable, removes both variables from
 * the environment, and hooks itself into bash: PROMPT_COMMAND (prepended
 * and appended to what the rc files left there), PS1 (wrapped in \[...\],
 * so the prompt looks the same) and PS0.  From then on the shell prints:
 *
 *   ESC ] 133 ; A ; nonce=N BEL                       the prompt starts (PS1)
 *   ESC ] 133 ; B ; nonce=N BEL                       the command line starts (end of PS1)
 *   ESC ] 133 ; C ; nonce=N ; cmdline_url=TEXT BEL    a command line runs (PS0); TEXT is the
 *                                                    line as history saved it, percent-encoded
 *                                                    (empty when history did not save it)
 *   ESC ] 133 ; D ; STATUS ; nonce=N BEL              it finished with STATUS (PROMPT_COMMAND)
 *
 * Marks without the session's nonce (a file that is printed, a program's
 * output) are not the shell's and are ignored.  The nonce keeps data from
 * forging records, not the session's own user: records are what the
 * session's shell reports (DWELL_EXIT_STATUS_SOURCE=shell).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OSC133_NONCE_LEN 32u
#define OSC133_CMDLINE_MAX 4096u        /* decoded bytes of a command line kept */

#define OSC133_PROMPT_COMMAND "eval \"${DWELL_SHELL_INTEGRATION-}\""
extern const char osc133_bash_script[];

/* 32 hex digits from getrandom(). */
int osc133_nonce_new(char ret[static OSC133_NONCE_LEN + 1]);

/* Whether the shell (a path) is bash: only bash gets the marks. */
bool osc133_shell_supported(const char *shell);

typedef struct Osc133Mark {
        char kind;              /* 'A', 'B', 'C', 'D' */
        int status;             /* D: 0..255 (-1: none given) */
        char *cmdline;          /* C: decoded, NUL-free (NULs, controls shown as '?'); "" if none */
} Osc133Mark;

void osc133_mark_done(Osc133Mark *m);

/* A mark as terminal.h hands it (args: the text after "133;X;").
 * Returns 1 with *ret filled if it carries nonce, 0 if it is not the
 * shell's (no nonce, another nonce, malformed: ignored), -ENOMEM. */
int osc133_parse(char kind, const char *args, size_t n, const char *nonce, Osc133Mark *ret);

/* The shell's state as its marks tell it, per session. */
typedef enum Osc133Phase {
        OSC133_UNKNOWN,         /* no mark yet (not bash, no hooks, or not yet at a prompt) */
        OSC133_PROMPT,          /* A or B: the shell waits at its prompt */
        OSC133_RUNNING,         /* C: a command line runs */
} Osc133Phase;

#define OSC133_BURST 64u                /* command records opened at once, at most ... */
#define OSC133_PER_SEC 20u              /* ... and so many a second on average */

typedef struct Osc133State {
        char nonce[OSC133_NONCE_LEN + 1];
        Osc133Phase phase;
        bool typed;                     /* a client typed since the prompt appeared */
        uint32_t tokens_milli;          /* token bucket for records, in thousandths */
        uint64_t tokens_usec;           /* when it was last filled */
        uint64_t ignored;               /* marks over the rate, ignored */
} Osc133State;

void osc133_state_init(Osc133State *s, const char nonce[static OSC133_NONCE_LEN + 1]);

typedef enum Osc133Action {
        OSC133_NONE,
        OSC133_START,           /* a command line starts: m->cmdline */
        OSC133_FINISH,          /* the running one finished: m->status (-1: unknown) */
        OSC133_FINISH_START,    /* a C while one ran (its D lost): finish it (status -1), start the new one */
} Osc133Action;

/* Feeds a mark the shell printed (now: CLOCK_MONOTONIC usec).  On
 * OSC133_START and OSC133_FINISH_START, *m holds the command line (the
 * caller owns m and calls osc133_mark_done()).  Marks that are not the
 * shell's are OSC133_NONE; so are C marks over the rate (the command's
 * output then stays with the previous record). */
Osc133Action osc133_state_mark(Osc133State *s, char kind, const char *args, size_t n, uint64_t now,
                               Osc133Mark *m);
/* Whether a command line may be typed into the pty for the shell: its
 * last mark was a prompt and nobody typed since. */
bool osc133_state_idle(const Osc133State *s);
