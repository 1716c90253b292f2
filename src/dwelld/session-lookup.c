/* SPDX-License-Identifier: ISC */
/*
 * Finding sessions by name or Id for a caller: which sessions a caller
 * sees (their own, shared ones, watchable ones), the caller's own name
 * before anyone else's, and the message that lists the candidates when a
 * name is ambiguous.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse-util.h"
#include "session.h"
bool session_visible(const Session *s, const Caller *who) {
        if (s->owner_uid == who->uid)
                return true;
        return s->share && policy_listed(s->share_users, s->share_groups, who);
}

bool session_listed(const Session *s) {
        return !s->removed && !s->start_failed && s->info.state != SESSION_CLOSED;
}

/* name: a name or an Id; an Id compares as a number. */
static bool session_named(const Session *s, const char *name, bool by_id, uint32_t id) {
        return by_id ? s->info.id == id : streq(s->info.name, name);
}

Session *session_find_any(Manager *m, const char *name) {
        uint32_t id;
        bool by_id;

        if (!name || !*name)
                return NULL;
        by_id = parse_uint32(name, &id) >= 0;
        for (Session *s = m->sessions; s; s = s->next)
                if (session_listed(s) && session_named(s, name, by_id, id))
                        return s;
        return NULL;
}

Session *session_find_own(Manager *m, uid_t owner, const char *name) {
        if (!name || !*name)
                return NULL;
        for (Session *s = m->sessions; s; s = s->next)
                if (s->owner_uid == owner && session_listed(s) && streq(s->info.name, name))
                        return s;
        return NULL;
}

bool session_may_watch(const Session *s, const Caller *who, bool admin) {
        return admin || session_visible(s, who) || policy_listed(s->observer_users, s->observer_groups, who);
}

typedef enum Scope {
        SCOPE_VISIBLE,
        SCOPE_ALL,
        SCOPE_WATCH,
        SCOPE_WATCH_ADMIN,
} Scope;

/* The sessions a lookup by who considers. */
static bool in_scope(const Session *s, const Caller *who, Scope scope) {
        if (!session_listed(s))
                return false;
        switch (scope) {
        case SCOPE_ALL:
                return true;
        case SCOPE_WATCH:
        case SCOPE_WATCH_ADMIN:
                return session_may_watch(s, who, scope == SCOPE_WATCH_ADMIN);
        default:
                return session_visible(s, who);
        }
}

static int lookup_in(Manager *m, const Caller *who, const char *name, Scope all, Session **ret);

int session_lookup(Manager *m, const Caller *who, const char *name, bool all, Session **ret) {
        return lookup_in(m, who, name, all ? SCOPE_ALL : SCOPE_VISIBLE, ret);
}

int session_lookup_watch(Manager *m, const Caller *who, const char *name, bool admin, Session **ret) {
        return lookup_in(m, who, name, admin ? SCOPE_WATCH_ADMIN : SCOPE_WATCH, ret);
}

static int lookup_in(Manager *m, const Caller *who, const char *name, Scope all, Session **ret) {
        Session *found = NULL;
        unsigned n = 0;
        uint32_t id;
        bool by_id;

        *ret = NULL;
        if (!name || !*name)
                return -ENOENT;
        by_id = parse_uint32(name, &id) >= 0;
        for (Session *s = m->sessions; s; s = s->next) {
                if (!in_scope(s, who, all) || !session_named(s, name, by_id, id))
                        continue;
                /* Names are unique per owner: the caller's own one wins. */
                if (!by_id && s->owner_uid == who->uid) {
                        *ret = s;
                        return 0;
                }
                found = s;
                n++;
        }
        if (n == 0)
                return -ENOENT;
        if (n > 1)
                return -ENOTUNIQ;
        *ret = found;
        return 0;
}

static int cmp_session_id(const void *a, const void *b) {
        uint32_t x = (*(Session *const *) a)->info.id, y = (*(Session *const *) b)->info.id;
        return x < y ? -1 : x > y;
}

#define AMBIGUITY_MAX_LISTED 8

static char *ambiguity_in(Manager *m, const Caller *who, const char *name, Scope all);

char *session_ambiguity(Manager *m, const Caller *who, const char *name, bool all) {
        return ambiguity_in(m, who, name, all ? SCOPE_ALL : SCOPE_VISIBLE);
}

char *session_ambiguity_watch(Manager *m, const Caller *who, const char *name, bool admin) {
        return ambiguity_in(m, who, name, admin ? SCOPE_WATCH_ADMIN : SCOPE_WATCH);
}

static char *ambiguity_in(Manager *m, const Caller *who, const char *name, Scope all) {
        _cleanup_free_ Session **v = NULL;
        size_t n = 0, size = 0, shown;
        char *text = NULL;
        FILE *f;

        for (Session *s = m->sessions; s; s = s->next) {
                if (!in_scope(s, who, all) || !streq(s->info.name, name))
                        continue;
                if (n == size) {
                        Session **nv = reallocarray(v, size ? size * 2 : 8, sizeof *v);
                        if (!nv)
                                return NULL;
                        v = nv;
                        size = size ? size * 2 : 8;
                }
                v[n++] = s;
        }
        qsort(v, n, sizeof *v, cmp_session_id);
        f = open_memstream(&text, &size);
        if (!f)
                return NULL;
        shown = n > AMBIGUITY_MAX_LISTED ? AMBIGUITY_MAX_LISTED : n;
        fprintf(f, "'%s' matches sessions ", name);
        for (size_t i = 0; i < shown; i++)
                fprintf(f, "%s%u (%s)", i == 0 ? "" : i + 1 == n ? " and " : ", ", v[i]->info.id,
                        v[i]->info.owner);
        if (shown < n)
                fprintf(f, " and %zu more", n - shown);
        fputs("; use the Id", f);
        if (fclose(f) != 0) {
                free(text);
                return NULL;
        }
        return text;
}

void session_count(Manager *m, const char *config, uid_t owner, SessionCounts *ret) {
        *ret = (SessionCounts) {};
        for (Session *s = m->sessions; s; s = s->next) {
                bool mine = s->owner_uid == owner;

                if (s->info.state == SESSION_CLOSED)
                        continue;
                ret->owner += mine;
                if (streq(s->info.configuration, config)) {
                        ret->config++;
                        ret->config_owner += mine;
                }
        }
}
