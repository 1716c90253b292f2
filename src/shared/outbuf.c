/* SPDX-License-Identifier: ISC */
/*
 * The session output buffer: a doubly linked list of records, oldest at
 * head.  Sequence numbers increase along the list, so acknowledgements free
 * from the head and appends go to the tail, both O(1) amortized.
 *
 * A record has been *sent* to the current reader if it passes the reader's
 * filter and lies before the cursor (every passing record, if the cursor is
 * NULL).  Only sent records can be acknowledged.
 *
 * Drop mode discards whole output records, oldest first.  A discarded record
 * becomes a RECORD_DROPPED record in place (same seq, same command, value =
 * bytes lost); it is merged into an adjacent older drop notice of the same
 * command when the reader cannot tell the difference, i.e. unless the
 * discarded record is the cursor (the reader has seen the older notice but
 * not this one).  So a command that produces gigabytes into a full buffer
 * leaves one or two drop notices, not millions.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "outbuf.h"

void outbuf_init(OutBuf *o, size_t max, uint8_t mode) {
        assert(o);
        *o = (OutBuf) {
                .next_seq = 1,
                .max = max,
                .mode = mode,
        };
}

void outbuf_done(OutBuf *o) {
        OutRecord *r, *next;

        if (!o)
                return;
        for (r = o->head; r; r = next) {
                next = r->next;
                free(r);
        }
        o->head = o->tail = o->cursor = NULL;
        o->used = 0;
        o->n_records = 0;
}

static bool passes(const OutBuf *o, const OutRecord *r) {
        return o->filter == 0 || r->cmd_id == o->filter;
}

static bool was_sent(const OutBuf *o, const OutRecord *r) {
        return passes(o, r) && (!o->cursor || r->seq < o->cursor->seq);
}

static bool droppable(const OutRecord *r) {
        return r->kind == RECORD_STDOUT || r->kind == RECORD_STDERR;
}

static OutRecord *next_passing(const OutBuf *o, OutRecord *r) {
        while (r && !passes(o, r))
                r = r->next;
        return r;
}

/* Unlinks and frees r; the cursor moves on to the next passing record. */
static void record_remove(OutBuf *o, OutRecord *r) {
        if (o->cursor == r)
                o->cursor = next_passing(o, r->next);
        if (r->prev)
                r->prev->next = r->next;
        else
                o->head = r->next;
        if (r->next)
                r->next->prev = r->prev;
        else
                o->tail = r->prev;
        assert(o->used >= r->size - r->skip);
        o->used -= r->size - r->skip;
        o->n_records--;
        free(r);
}

size_t outbuf_room(const OutBuf *o) {
        assert(o);
        if (o->mode == BUFFERING_DROP)
                return o->max;          /* appending never fails: old output makes way */
        return o->used >= o->max ? 0 : o->max - o->used;
}

/* Turns output record d into a drop notice, merging it into the previous
 * notice of the same command where the reader cannot tell the difference. */
static void drop_record(OutBuf *o, OutRecord *d) {
        OutRecord *prev = d->prev, *n;
        size_t lost = d->size - d->skip;

        o->dropped += lost;

        if (prev && prev->kind == RECORD_DROPPED && prev->cmd_id == d->cmd_id &&
            o->cursor != d && was_sent(o, prev) == was_sent(o, d)) {
                prev->value += (int64_t) lost;
                record_remove(o, d);
                return;
        }

        o->used -= lost;
        d->kind = RECORD_DROPPED;
        d->value = (int64_t) lost;
        d->size = 0;
        d->skip = 0;

        /* Give the data back: replace d by a header-only copy.  Should that
         * allocation fail, d simply keeps its (now unused) memory. */
        n = malloc(sizeof(OutRecord));
        if (!n)
                return;
        *n = *d;
        if (n->prev)
                n->prev->next = n;
        else
                o->head = n;
        if (n->next)
                n->next->prev = n;
        else
                o->tail = n;
        if (o->cursor == d)
                o->cursor = n;
        free(d);
}

/* Drop mode: discard the oldest output until size more bytes fit, or
 * nothing is left to discard. */
static void make_room(OutBuf *o, size_t size) {
        OutRecord *r = o->head;

        while (o->used > o->max || size > o->max - o->used) {
                OutRecord *next;

                while (r && !droppable(r))
                        r = r->next;
                if (!r)
                        return;
                next = r->next;
                drop_record(o, r);
                r = next;
        }
}

int outbuf_append(OutBuf *o, uint32_t cmd_id, uint8_t kind, int64_t value,
                  const void *data, size_t size, uint64_t *ret_seq) {
        OutRecord *r;

        assert(o);
        assert(data || size == 0);

        if (kind == 0 || kind >= _RECORD_KIND_MAX)
                return -EINVAL;
        if (size > PROTO_MAX_DATA)
                return -EMSGSIZE;       /* a record must fit one RECORD frame */

        r = malloc(sizeof(OutRecord) + size);
        if (!r)
                return -ENOMEM;
        *r = (OutRecord) {
                .seq = o->next_seq,
                .cmd_id = cmd_id,
                .kind = kind,
                .value = value,
                .size = size,
        };
        if (size > 0)
                memcpy(r->data, data, size);

        if (o->mode == BUFFERING_DROP)
                make_room(o, size);

        o->next_seq++;
        r->prev = o->tail;
        if (o->tail)
                o->tail->next = r;
        else
                o->head = r;
        o->tail = r;
        o->used += size;
        o->n_records++;
        /* A NULL cursor means everything passing the filter was sent: the
         * new record, if it passes, is the next one to send. */
        if (!o->cursor && passes(o, r))
                o->cursor = r;

        if (ret_seq)
                *ret_seq = r->seq;
        return 0;
}

void outbuf_rewind(OutBuf *o, uint32_t filter) {
        assert(o);
        o->filter = filter;
        o->cursor = next_passing(o, o->head);
}

const OutRecord *outbuf_peek(const OutBuf *o) {
        assert(o);
        return o->cursor;
}

void outbuf_advance(OutBuf *o) {
        assert(o);
        if (o->cursor)
                o->cursor = next_passing(o, o->cursor->next);
}

int outbuf_ack(OutBuf *o, uint64_t seq) {
        OutRecord *r, *next;
        size_t freed = 0;

        assert(o);
        if (seq >= o->next_seq)
                return -EINVAL;

        for (r = o->head; r && r->seq <= seq && r != o->cursor; r = next) {
                next = r->next;
                if (!passes(o, r))
                        continue;
                freed += r->size - r->skip;
                record_remove(o, r);
        }
        return (int) MIN(freed, (size_t) INT_MAX);
}

int outbuf_ack_bytes(OutBuf *o, uint64_t seq, uint64_t offset) {
        OutRecord *r;
        int freed = 0;

        assert(o);
        if (seq == 0 || seq >= o->next_seq)
                return -EINVAL;
        if (seq > 1) {
                freed = outbuf_ack(o, seq - 1);
                if (freed < 0)
                        return freed;
        }
        for (r = o->head; r && r->seq < seq; r = r->next)
                ;
        if (!r || r->seq != seq || !was_sent(o, r))
                return freed;           /* gone already (dropped and merged) or never sent */
        if (offset >= r->size) {
                freed += (int) (r->size - r->skip);
                record_remove(o, r);
        } else if (offset > r->skip) {
                freed += (int) (offset - r->skip);
                o->used -= offset - r->skip;
                r->skip = offset;
        }
        return freed;
}

uint64_t outbuf_sent_horizon(const OutBuf *o) {
        assert(o);
        return o->cursor ? o->cursor->seq : o->next_seq;
}

int outbuf_ack_bytes_past(OutBuf *o, uint32_t filter, uint64_t horizon, uint64_t seq, uint64_t offset) {
        uint64_t cur = o->cursor ? o->cursor->seq : UINT64_MAX;
        uint32_t saved_filter = o->filter;
        OutRecord *r;
        int k;

        assert(o);
        if (seq == 0 || seq >= horizon || horizon > o->next_seq)
                return -EINVAL;
        /* As the buffer stood for that reader ... */
        o->filter = filter;
        for (r = o->head; r && r->seq < horizon; r = r->next)
                ;
        o->cursor = next_passing(o, r);
        k = outbuf_ack_bytes(o, seq, offset);
        /* ... and back to the current one's (only records below horizon
         * went, so its next record is still there or later). */
        o->filter = saved_filter;
        for (r = o->head; r && r->seq < cur; r = r->next)
                ;
        o->cursor = next_passing(o, r);
        return k;
}

/* Output record r consumed up to byte offset of its data (offset >= its
 * size: removed); returns bytes freed. */
static int forget_record(OutBuf *o, OutRecord *r, uint64_t offset) {
        int freed = 0;

        if (offset >= r->size) {
                freed = (int) (r->size - r->skip);
                record_remove(o, r);
        } else if (offset > r->skip) {
                freed = (int) (offset - r->skip);
                o->used -= offset - r->skip;
                r->skip = offset;
        }
        return freed;
}

int outbuf_forget(OutBuf *o, uint64_t seq, uint64_t offset) {
        OutRecord *r;

        assert(o);
        if (seq == 0 || seq >= o->next_seq)
                return -EINVAL;
        for (r = o->head; r && r->seq < seq; r = r->next)
                ;
        if (!r || r->seq != seq || !droppable(r))
                return 0;               /* gone already, or not output */
        return forget_record(o, r, offset);
}

/* Output of the reader of filter from record seq on. */
static bool reader_output(const OutRecord *r, uint32_t filter, uint64_t seq) {
        return r->seq >= seq && (filter == 0 || r->cmd_id == filter) && droppable(r);
}

int outbuf_forget_written(OutBuf *o, uint32_t filter, uint64_t horizon, uint64_t seq, uint64_t offset,
                          const bool in_file[2], uint64_t bytes) {
        OutRecord *r, *next, *reached = NULL;
        uint64_t reached_at = 0;
        int freed = 0;

        assert(o);
        /* Where the bytes end: the record and offset of the last one. */
        for (r = o->head; r && r->seq < horizon && bytes > 0; r = r->next) {
                uint64_t from, take;

                if (!reader_output(r, filter, seq) || !in_file[r->kind == RECORD_STDERR])
                        continue;
                from = r->seq == seq ? MAX(offset, (uint64_t) r->skip) : r->skip;
                if (from >= r->size)
                        continue;
                take = MIN(r->size - from, bytes);
                bytes -= take;
                reached = r;
                reached_at = from + take;
        }
        if (!reached)
                return 0;
        /* Everything of the reader's before it landed too, whatever its
         * stream (written in order). */
        for (r = o->head; r != reached; r = next) {
                next = r->next;
                if (reader_output(r, filter, seq))
                        freed += forget_record(o, r, r->size);
        }
        return freed + forget_record(o, reached, reached_at);
}

bool outbuf_was_sent(const OutBuf *o, uint64_t seq) {
        assert(o);
        for (const OutRecord *r = o->head; r && r->seq <= seq; r = r->next)
                if (r->seq == seq)
                        return was_sent(o, r);
        return false;
}

bool outbuf_has(const OutBuf *o, uint32_t cmd_id) {
        assert(o);
        if (cmd_id == 0)
                return o->head != NULL;
        for (const OutRecord *r = o->head; r; r = r->next)
                if (r->cmd_id == cmd_id)
                        return true;
        return false;
}
