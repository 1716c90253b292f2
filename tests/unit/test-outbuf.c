/* SPDX-License-Identifier: ISC */
/*
 * OutBuf: block-mode room, acknowledgements free only sent records,
 * per-command filters, a rewind after a reader died re-sends exactly the
 * unacknowledged records, drop mode accounts every byte per command and
 * keeps the newest output, drop notices merge so the list stays short, and
 * the cursor stays valid across drops.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "outbuf.h"
#include "tap.h"

/* Consistency of the list and the counters; the cursor must be a member. */
static bool outbuf_consistent(const OutBuf *o) {
        const OutRecord *prev = NULL;
        size_t used = 0, n = 0;
        bool cursor_found = o->cursor == NULL;
        uint64_t last_seq = 0;

        for (const OutRecord *r = o->head; r; prev = r, r = r->next) {
                if (r->prev != prev || r->seq <= last_seq || r->seq >= o->next_seq)
                        return false;
                last_seq = r->seq;
                used += r->size - r->skip;    /* a partly acknowledged record holds the rest */
                n++;
                if (r == o->cursor)
                        cursor_found = true;
        }
        return o->tail == prev && used == o->used && n == o->n_records && cursor_found;
}

static uint64_t append(OutBuf *o, uint32_t cmd, uint8_t kind, const char *text) {
        uint64_t seq = 0;

        if (outbuf_append(o, cmd, kind, 0, text, text ? strlen(text) : 0, &seq) < 0)
                return 0;
        return seq;
}

static const OutRecord *find(const OutBuf *o, uint64_t seq) {
        for (const OutRecord *r = o->head; r; r = r->next)
                if (r->seq == seq)
                        return r;
        return NULL;
}

/* Sends (peeks and advances) up to n records; returns the seq of the last one. */
static uint64_t send_n(OutBuf *o, unsigned n) {
        uint64_t last = 0;

        for (unsigned i = 0; i < n; i++) {
                const OutRecord *r = outbuf_peek(o);
                if (!r)
                        break;
                last = r->seq;
                outbuf_advance(o);
        }
        return last;
}

static void test_basics(void) {
        OutBuf o;
        uint64_t seq = 0;
        const OutRecord *r;

        outbuf_init(&o, 100, BUFFERING_BLOCK);
        ok(outbuf_peek(&o) == NULL, "empty buffer has nothing to send");
        ok(!outbuf_has(&o, 0), "empty buffer holds nothing");
        is_int(outbuf_room(&o), 100, "room is max");
        is_int(outbuf_ack(&o, 1), -EINVAL, "ack of a never-sent seq is -EINVAL");
        is_int(outbuf_ack(&o, 0), 0, "ack 0 frees nothing");

        ok(outbuf_append(&o, 1, RECORD_START, 0, "ls", 2, &seq) == 0, "append START");
        is_int(seq, 1, "first seq is 1");
        ok(outbuf_append(&o, 1, RECORD_STDOUT, 0, "hello\n", 6, &seq) == 0, "append STDOUT");
        is_int(seq, 2, "seq increases by one");
        ok(outbuf_append(&o, 1, RECORD_EXIT, 3, NULL, 0, &seq) == 0, "append EXIT without data");
        is_int(seq, 3, "third seq");
        ok(outbuf_append(&o, 1, RECORD_STDERR, 0, "x", 1, NULL) == 0, "ret_seq may be NULL");
        is_int(o.used, 9, "used counts data bytes");
        is_int(o.n_records, 4, "four records");
        is_int(outbuf_room(&o), 91, "room is max - used");
        ok(outbuf_has(&o, 1) && outbuf_has(&o, 0) && !outbuf_has(&o, 2), "outbuf_has");

        is_int(outbuf_append(&o, 1, 0, 0, NULL, 0, NULL), -EINVAL, "kind 0 rejected");
        is_int(outbuf_append(&o, 1, _RECORD_KIND_MAX, 0, NULL, 0, NULL), -EINVAL, "unknown kind rejected");
        is_int(outbuf_append(&o, 1, RECORD_STDOUT, 0, "", PROTO_MAX_DATA + 1, NULL), -EMSGSIZE,
               "record larger than a frame rejected");
        is_int(o.next_seq, 5, "failed appends use no seq");

        r = outbuf_peek(&o);
        ok(r && r->seq == 1 && r->kind == RECORD_START && r->size == 2 && memcmp(r->data, "ls", 2) == 0,
           "cursor starts at the oldest record");
        outbuf_advance(&o);
        r = outbuf_peek(&o);
        ok(r && r->seq == 2 && r->kind == RECORD_STDOUT && memcmp(r->data, "hello\n", 6) == 0, "advance");
        outbuf_advance(&o);
        r = outbuf_peek(&o);
        ok(r && r->seq == 3 && r->kind == RECORD_EXIT && r->value == 3 && r->size == 0, "EXIT value kept");
        ok(outbuf_consistent(&o), "consistent");
        outbuf_done(&o);
        ok(o.head == NULL && o.n_records == 0 && o.used == 0, "done frees everything");
        outbuf_done(&o);
        ok(true, "done twice is harmless");
}

static void test_block_room(void) {
        OutBuf o;

        outbuf_init(&o, 10, BUFFERING_BLOCK);
        append(&o, 1, RECORD_STDOUT, "0123456");
        is_int(outbuf_room(&o), 3, "room 3");
        append(&o, 1, RECORD_STDOUT, "789");
        is_int(outbuf_room(&o), 0, "full: room 0");
        ok(append(&o, 1, RECORD_STDOUT, "abc") == 3, "block mode still appends past max");
        is_int(o.used, 13, "used may exceed max");
        is_int(outbuf_room(&o), 0, "room stays 0 when over");
        is_int(o.dropped, 0, "block mode never drops");
        send_n(&o, 3);
        is_int(outbuf_ack(&o, 1), 7, "ack frees 7 bytes");
        is_int(outbuf_room(&o), 4, "room 4 again");
        is_int(outbuf_ack(&o, 3), 6, "ack frees the rest");
        is_int(outbuf_room(&o), 10, "room restored");
        ok(!outbuf_has(&o, 0) && outbuf_peek(&o) == NULL, "empty again");
        ok(outbuf_consistent(&o), "consistent");
        outbuf_done(&o);
}

static void test_ack_only_sent(void) {
        OutBuf o;
        const OutRecord *r;

        outbuf_init(&o, 1000, BUFFERING_BLOCK);
        for (int i = 0; i < 6; i++)
                append(&o, 1, RECORD_STDOUT, "abcd");   /* seqs 1..6 */
        is_int(send_n(&o, 3), 3, "sent 1..3");
        is_int(outbuf_ack(&o, 5), 12, "ack 5 frees only the 3 sent records");
        is_int(o.n_records, 3, "3 records left");
        r = outbuf_peek(&o);
        ok(r && r->seq == 4, "cursor unchanged at 4");
        is_int(outbuf_ack(&o, 7), -EINVAL, "ack past next_seq is -EINVAL");
        is_int(outbuf_ack(&o, 2), 0, "ack of already-freed seqs frees nothing");
        is_int(send_n(&o, 10), 6, "send the rest");
        ok(outbuf_peek(&o) == NULL, "cursor NULL when all sent");
        is_int(outbuf_ack(&o, 5), 8, "ack 5 frees 4 and 5");
        append(&o, 1, RECORD_STDOUT, "new");
        r = outbuf_peek(&o);
        ok(r && r->seq == 7, "a record appended after everything was sent is next");
        is_int(outbuf_ack(&o, 7), 4, "ack 7 frees 6 only; 7 was not sent");
        ok(outbuf_peek(&o) && outbuf_peek(&o)->seq == 7, "7 still pending");
        ok(outbuf_consistent(&o), "consistent");
        outbuf_done(&o);
}

/* A reader disconnected by someone else: its acknowledgements, read after
 * the buffer was rewound for the next reader, still count for what it was
 * sent, and the new reader's cursor stays consistent. */
static void test_ack_past(void) {
        OutBuf o;
        uint64_t horizon;

        outbuf_init(&o, 1000, BUFFERING_BLOCK);
        for (int i = 0; i < 6; i++)
                append(&o, 1, RECORD_STDOUT, "abcd");   /* seqs 1..6 */
        is_int(send_n(&o, 4), 4, "old reader was sent 1..4");
        horizon = outbuf_sent_horizon(&o);
        is_int((int) horizon, 5, "its horizon is 5");
        outbuf_rewind(&o, 0);                           /* the next reader */
        is_int(outbuf_ack_bytes(&o, 3, 4), 0, "an ACK after the rewind counts for nothing (the bug)");
        is_int(outbuf_ack_bytes_past(&o, 0, horizon, 3, 2), 10, "past ACK: 1, 2 and half of 3 freed");
        ok(outbuf_peek(&o) && outbuf_peek(&o)->seq == 3 && outbuf_peek(&o)->skip == 2,
           "the new reader starts at the rest of 3");
        is_int(outbuf_ack_bytes_past(&o, 0, horizon, 5, 4), -EINVAL, "past ACK beyond its horizon refused");
        is_int(send_n(&o, 1), 3, "new reader sent 3");
        is_int(outbuf_ack_bytes_past(&o, 0, horizon, 4, 4), 6, "past ACK of 4 frees 3 and 4");
        ok(outbuf_peek(&o) && outbuf_peek(&o)->seq == 5, "new reader's cursor moved on to 5");
        ok(outbuf_consistent(&o), "consistent");
        outbuf_done(&o);
}

static void test_filter(void) {
        OutBuf o;
        const OutRecord *r;

        outbuf_init(&o, 1000, BUFFERING_BLOCK);
        append(&o, 1, RECORD_START, "one");     /* 1 */
        append(&o, 1, RECORD_STDOUT, "a");      /* 2 */
        append(&o, 2, RECORD_START, "two");     /* 3 */
        append(&o, 1, RECORD_STDOUT, "b");      /* 4 */
        append(&o, 2, RECORD_STDOUT, "cc");     /* 5 */
        append(&o, 2, RECORD_EXIT, NULL);       /* 6 */

        outbuf_rewind(&o, 2);
        r = outbuf_peek(&o);
        ok(r && r->seq == 3, "filter 2 starts at its START");
        outbuf_advance(&o);
        r = outbuf_peek(&o);
        ok(r && r->seq == 5, "filter skips other commands");
        outbuf_advance(&o);
        r = outbuf_peek(&o);
        ok(r && r->seq == 6, "then EXIT");
        outbuf_advance(&o);
        ok(outbuf_peek(&o) == NULL, "end of command 2");

        append(&o, 1, RECORD_STDOUT, "late");   /* 7: not for this reader */
        ok(outbuf_peek(&o) == NULL, "records of other commands do not wake the filtered reader");
        append(&o, 2, RECORD_STDOUT, "x");      /* 8 */
        r = outbuf_peek(&o);
        ok(r && r->seq == 8, "a record of the filtered command does");
        outbuf_advance(&o);

        is_int(outbuf_ack(&o, 8), 3 + 2 + 0 + 1, "ack frees only command 2's sent records");
        ok(!outbuf_has(&o, 2), "command 2 fully consumed");
        ok(outbuf_has(&o, 1), "command 1 untouched");
        is_int(o.n_records, 4, "4 records of command 1 left");

        outbuf_rewind(&o, 0);
        r = outbuf_peek(&o);
        ok(r && r->seq == 1, "unfiltered reader starts at the oldest");
        is_int(send_n(&o, 10), 7, "and sees all four");
        is_int(outbuf_ack(&o, 7), 3 + 1 + 1 + 4, "ack frees them");
        ok(!outbuf_has(&o, 0), "empty");

        outbuf_rewind(&o, 42);
        ok(outbuf_peek(&o) == NULL, "filter with no records: nothing to send");
        ok(outbuf_consistent(&o), "consistent");
        outbuf_done(&o);
}

static void test_rewind_after_reader_died(void) {
        OutBuf o;
        uint64_t seqs[20], got[20];
        size_t n = 0;

        outbuf_init(&o, 100000, BUFFERING_BLOCK);
        for (int i = 0; i < 20; i++)
                seqs[i] = append(&o, 1, RECORD_STDOUT, "line\n");

        /* Reader 1 receives 12 records, acknowledges 8, and dies. */
        is_int(send_n(&o, 12), seqs[11], "reader 1 received 12");
        ok(outbuf_ack(&o, seqs[7]) == 40, "reader 1 acked 8");

        /* Reader 2 must receive exactly records 9..20. */
        outbuf_rewind(&o, 0);
        for (const OutRecord *r; (r = outbuf_peek(&o)); outbuf_advance(&o))
                got[n++] = r->seq;
        is_int(n, 12, "reader 2 receives the 12 unacknowledged records");
        ok(n == 12 && memcmp(got, seqs + 8, sizeof(uint64_t) * 12) == 0, "exactly those, in order");

        /* Reader 2 also dies before acknowledging: nothing is lost. */
        outbuf_rewind(&o, 0);
        ok(outbuf_peek(&o) && outbuf_peek(&o)->seq == seqs[8], "a third reader starts at the same place");
        is_int(outbuf_ack(&o, seqs[19]), 0, "acking before sending frees nothing");
        send_n(&o, 100);
        is_int(outbuf_ack(&o, seqs[19]), 60, "then everything");
        ok(outbuf_consistent(&o), "consistent");
        outbuf_done(&o);
}

/* A write announced by a reader that died (outbuf_forget): only that
 * record loses bytes, whatever the next reader was sent, and only output. */
static void test_forget(void) {
        OutBuf o;
        uint64_t s1, o1, s2, o2, e2;

        outbuf_init(&o, 100000, BUFFERING_BLOCK);
        s1 = append(&o, 1, RECORD_START, "one");
        o1 = append(&o, 1, RECORD_STDOUT, "never sent");
        s2 = append(&o, 2, RECORD_START, "two");
        o2 = append(&o, 2, RECORD_STDOUT, "0123456789");
        e2 = append(&o, 2, RECORD_EXIT, NULL);

        /* A reader of command 2 only: sent START, output, EXIT. */
        outbuf_rewind(&o, 2);
        ok(!outbuf_was_sent(&o, o2), "not sent before it is peeked");
        is_int(send_n(&o, 2), o2, "reader of command 2 received START and output");
        ok(outbuf_was_sent(&o, o2) && !outbuf_was_sent(&o, e2), "sent: the output, not yet EXIT");
        ok(!outbuf_was_sent(&o, o1), "command 1's output was not sent to it");

        /* It dies after announcing a write; the next reader reads all. */
        outbuf_rewind(&o, 0);
        is_int(outbuf_forget(&o, o2, 4), 4, "4 bytes of the announced write landed");
        ok(o.head && o.head->seq == s1 && o.head->next && o.head->next->seq == o1,
           "command 1's records are untouched");
        ok(o.n_records == 5, "nothing else left the buffer");
        is_int(outbuf_forget(&o, s2, 100), 0, "a START record is not forgotten");
        is_int(outbuf_forget(&o, o2, 2), 0, "forgetting less than is gone changes nothing");
        is_int(outbuf_forget(&o, o2, 100), 6, "the rest of the record");
        ok(o.n_records == 4, "and the record is gone");
        is_int(outbuf_forget(&o, e2 + 1, 0), -EINVAL, "a seq that never existed");
        ok(outbuf_peek(&o) && outbuf_peek(&o)->seq == s1, "the new reader starts at the oldest record");
        ok(outbuf_consistent(&o), "consistent");
        outbuf_done(&o);
}

/* A reader that went on writing after its last announced write, unheard
 * (outbuf_forget_written): the bytes its file grew by reach across its
 * records in order; the other stream's records before the last byte
 * landed too; nothing past it, nothing it was not sent, nothing of
 * another command is forgotten. */
static void test_forget_written(void) {
        const bool stdout_only[2] = { true, false }, both[2] = { true, true };
        OutBuf o;
        uint64_t a, b, e, c, d, other, horizon;

        outbuf_init(&o, 100000, BUFFERING_BLOCK);
        append(&o, 1, RECORD_START, "one");
        a = append(&o, 1, RECORD_STDOUT, "0123456789");         /* the announced write, from 4 */
        other = append(&o, 2, RECORD_STDOUT, "not this reader's");
        b = append(&o, 1, RECORD_STDOUT, "abcdef");
        e = append(&o, 1, RECORD_STDERR, "ERR");
        c = append(&o, 1, RECORD_STDOUT, "ghij");
        d = append(&o, 1, RECORD_STDOUT, "klmn");               /* not sent */
        outbuf_rewind(&o, 1);
        is_int(send_n(&o, 5), c, "a reader of command 1 was sent everything but the last record");
        is_int(outbuf_ack_bytes(&o, a, 4), 3 + 4, "it acknowledged START and 4 bytes of a (announcing the rest)");
        horizon = outbuf_sent_horizon(&o);
        outbuf_rewind(&o, 0);

        /* stdout to the file: 6 (rest of a) + 6 (b) + 2 of c = 14 bytes. */
        is_int(outbuf_forget_written(&o, 1, horizon, a, 4, stdout_only, 14), 6 + 6 + 3 + 2,
               "the rest of a, b, the stderr record before c, 2 bytes of c");
        ok(find(&o, other) && find(&o, other)->skip == 0, "command 2's output is untouched");
        ok(!find(&o, a) && !find(&o, b) && !find(&o, e), "a, b and the stderr record are gone");
        ok(find(&o, c) && find(&o, c)->skip == 2, "c is kept from its third byte");
        ok(find(&o, d) && find(&o, d)->skip == 0, "what was not sent is kept whole");
        ok(outbuf_consistent(&o), "consistent");
        outbuf_done(&o);

        /* More bytes than were sent: only up to the horizon. */
        outbuf_init(&o, 100000, BUFFERING_BLOCK);
        a = append(&o, 1, RECORD_STDOUT, "0123");
        e = append(&o, 1, RECORD_STDERR, "ER");
        d = append(&o, 1, RECORD_STDOUT, "late");
        outbuf_rewind(&o, 0);
        is_int(send_n(&o, 2), e, "sent a and e");
        horizon = outbuf_sent_horizon(&o);
        outbuf_rewind(&o, 0);
        is_int(outbuf_forget_written(&o, 0, horizon, a, 0, both, 1000), 4 + 2,
               "both streams to the file: a and e, not what was not sent");
        ok(o.head && o.head->seq == d && o.head->skip == 0 && o.n_records == 1, "the unsent record stays whole");
        is_int(outbuf_forget_written(&o, 0, horizon, a, 0, both, 0), 0, "no bytes: nothing");
        ok(outbuf_consistent(&o), "consistent");
        outbuf_done(&o);
}

/* Sums drop notices of a command held in the buffer. */
static int64_t dropped_of(const OutBuf *o, uint32_t cmd) {
        int64_t sum = 0;

        for (const OutRecord *r = o->head; r; r = r->next)
                if (r->kind == RECORD_DROPPED && r->cmd_id == cmd)
                        sum += r->value;
        return sum;
}

static size_t count_kind(const OutBuf *o, uint8_t kind) {
        size_t n = 0;

        for (const OutRecord *r = o->head; r; r = r->next)
                n += r->kind == kind;
        return n;
}

static void test_drop_exact(void) {
        OutBuf o;
        char chunk[32];
        const OutRecord *r;

        outbuf_init(&o, 100, BUFFERING_DROP);
        is_int(outbuf_room(&o), 100, "drop mode always has room");
        append(&o, 1, RECORD_START, "cmd1");            /* 4 bytes, never dropped */
        for (int i = 0; i < 10; i++) {                  /* 10 x 10 bytes of command 1 */
                snprintf(chunk, sizeof chunk, "1-%08d", i);
                append(&o, 1, RECORD_STDOUT, chunk);
        }
        append(&o, 1, RECORD_EXIT, NULL);
        is_int(o.dropped, 10, "one record of command 1 dropped to make room");
        append(&o, 2, RECORD_START, "cmd2");
        for (int i = 0; i < 30; i++) {                  /* 30 x 10 bytes of command 2 */
                snprintf(chunk, sizeof chunk, "2-%08d", i);
                append(&o, 2, i % 2 ? RECORD_STDERR : RECORD_STDOUT, chunk);
                if (o.used > 100) {
                        ok(false, "used %zu exceeds max", o.used);
                        break;
                }
        }
        ok(o.used <= 100, "used never exceeds max when there is output to drop");
        /* Held: START1 (4) + START2 (4) = 8 bytes fixed, room for 9 records. */
        is_int(o.used, 8 + 90, "used after drops");
        is_int(dropped_of(&o, 1), 100, "all 100 bytes of command 1 reported dropped");
        is_int(dropped_of(&o, 2), 300 - 90, "command 2 lost exactly what is not held");
        is_int(o.dropped, 100 + 210, "session total");
        is_int(count_kind(&o, RECORD_START), 2, "START records never dropped");
        is_int(count_kind(&o, RECORD_EXIT), 1, "EXIT record never dropped");

        /* The newest output is intact and in order. */
        r = o.tail;
        for (int i = 29; i >= 21; i--, r = r->prev) {
                snprintf(chunk, sizeof chunk, "2-%08d", i);
                if (!r || r->size != 10 || memcmp(r->data, chunk, 10) != 0)
                        break;
        }
        ok(r && r->kind == RECORD_DROPPED && r->cmd_id == 2, "newest 9 records intact, drop notice before them");

        /* The drop notice sits where the data was: after START2. */
        r = o.head;
        ok(r->kind == RECORD_START && r->cmd_id == 1, "START1 first");
        r = r->next;
        ok(r->kind == RECORD_DROPPED && r->cmd_id == 1 && r->value == 100, "one merged notice for command 1");
        r = r->next;
        ok(r->kind == RECORD_EXIT && r->cmd_id == 1, "then EXIT1");
        r = r->next;
        ok(r->kind == RECORD_START && r->cmd_id == 2, "then START2");
        r = r->next;
        ok(r->kind == RECORD_DROPPED && r->cmd_id == 2 && r->value == 210, "one merged notice for command 2");
        is_int(o.n_records, 5 + 9, "list is short");
        ok(outbuf_consistent(&o), "consistent");

        /* A reader sees the notices in order. */
        outbuf_rewind(&o, 2);
        r = outbuf_peek(&o);
        ok(r && r->kind == RECORD_START && r->cmd_id == 2, "filtered reader: START2");
        outbuf_advance(&o);
        r = outbuf_peek(&o);
        ok(r && r->kind == RECORD_DROPPED && r->value == 210, "filtered reader: drop notice");
        outbuf_done(&o);
}

static void test_drop_nothing_to_drop(void) {
        OutBuf o;
        char big[50];

        memset(big, 'c', sizeof big - 1);
        big[sizeof big - 1] = 0;
        outbuf_init(&o, 40, BUFFERING_DROP);
        append(&o, 1, RECORD_START, big);               /* 49 bytes, over max already */
        ok(append(&o, 1, RECORD_STDOUT, "xyz") > 0, "append with nothing droppable still works");
        is_int(o.used, 52, "used over max");
        is_int(o.dropped, 0, "nothing dropped");
        ok(append(&o, 1, RECORD_STDOUT, "uvw") > 0, "next append");
        is_int(o.dropped, 3, "the previous output record was dropped");
        is_int(o.used, 52, "used");
        ok(o.tail->size == 3 && memcmp(o.tail->data, "uvw", 3) == 0, "newest kept");
        ok(outbuf_consistent(&o), "consistent");
        outbuf_done(&o);

        /* A single record larger than the buffer. */
        outbuf_init(&o, 10, BUFFERING_DROP);
        append(&o, 1, RECORD_STDOUT, "abc");
        append(&o, 1, RECORD_STDOUT, "0123456789ABCDEF");
        is_int(o.dropped, 3, "older output dropped for an oversize record");
        is_int(o.used, 16, "the oversize record is kept whole");
        append(&o, 1, RECORD_STDOUT, "z");
        is_int(o.dropped, 19, "and dropped by the next one");
        is_int(dropped_of(&o, 1), 19, "notices agree");
        is_int(o.n_records, 2, "one merged notice plus the newest record");
        outbuf_done(&o);
}

static void test_drop_merge_bounded(void) {
        OutBuf o;
        static char chunk[4096];
        const size_t total = 100u * 1024 * 1024;
        size_t max_records = 0;
        bool consistent = true;

        memset(chunk, 'o', sizeof chunk);
        outbuf_init(&o, 64 * 1024, BUFFERING_DROP);
        append(&o, 7, RECORD_START, "yes");
        for (size_t done = 0; done < total; done += sizeof chunk) {
                if (outbuf_append(&o, 7, RECORD_STDOUT, 0, chunk, sizeof chunk, NULL) < 0) {
                        consistent = false;
                        break;
                }
                if (o.n_records > max_records)
                        max_records = o.n_records;
                if (o.used > o.max)
                        consistent = false;
        }
        ok(consistent, "100 MiB through a 64 KiB drop buffer: used never exceeds max");
        ok(max_records <= 3 + 16, "record count stays bounded (max %zu)", max_records);
        is_int(o.dropped, total + 3 - o.used, "every byte not held is counted as dropped");
        is_int(dropped_of(&o, 7), (int64_t) o.dropped, "and reported in the notices");
        is_int(count_kind(&o, RECORD_DROPPED), 1, "one notice");
        ok(outbuf_consistent(&o), "consistent");

        /* With a reader part-way through, at most one more notice. */
        outbuf_rewind(&o, 0);
        send_n(&o, 5);
        for (int i = 0; i < 1000; i++)
                outbuf_append(&o, 7, RECORD_STDOUT, 0, chunk, sizeof chunk, NULL);
        ok(count_kind(&o, RECORD_DROPPED) <= 2, "a cursor splits notices at most once (%zu)",
           count_kind(&o, RECORD_DROPPED));
        is_int(dropped_of(&o, 7), (int64_t) o.dropped, "totals still agree");
        ok(o.n_records <= 3 + 16 + 1, "record count still bounded (%zu)", o.n_records);
        ok(outbuf_consistent(&o), "consistent");
        outbuf_done(&o);
}

static void test_cursor_across_drops(void) {
        OutBuf o;
        const OutRecord *r;
        uint64_t s1, s2, s3, s4;
        int64_t seen_dropped = 0;
        size_t seen_bytes = 0;

        outbuf_init(&o, 30, BUFFERING_DROP);
        s1 = append(&o, 1, RECORD_STDOUT, "aaaaaaaaaa");
        s2 = append(&o, 1, RECORD_STDOUT, "bbbbbbbbbb");
        s3 = append(&o, 1, RECORD_STDOUT, "cccccccccc");
        r = outbuf_peek(&o);
        ok(r && r->seq == s1, "cursor at first record");

        /* The cursor record is dropped: the cursor stays on its notice. */
        s4 = append(&o, 1, RECORD_STDOUT, "dddddddddd");
        r = outbuf_peek(&o);
        ok(r && r->seq == s1 && r->kind == RECORD_DROPPED && r->value == 10,
           "cursor record turned into a notice, cursor on it");
        ok(outbuf_consistent(&o), "consistent");

        /* The reader takes the notice; the next drop must be a new notice
         * (the reader has seen the old one) that the cursor lands on. */
        outbuf_advance(&o);
        r = outbuf_peek(&o);
        ok(r && r->seq == s2, "cursor on second record");
        append(&o, 1, RECORD_STDOUT, "eeeeeeeeee");
        r = outbuf_peek(&o);
        ok(r && r->seq == s2 && r->kind == RECORD_DROPPED && r->value == 10,
           "second drop is its own notice, not merged into the sent one");
        ok(o.head->value == 10, "the sent notice is unchanged");

        /* Drops behind the cursor (already sent) merge freely. */
        outbuf_advance(&o);     /* s3 */
        outbuf_advance(&o);     /* s4 */
        r = outbuf_peek(&o);
        ok(r && r->seq == s4, "cursor on s4");
        append(&o, 1, RECORD_STDOUT, "ffffffffff");     /* drops s3, sent */
        ok(o.n_records == 5 && o.head->next->kind == RECORD_DROPPED && o.head->next->value == 20,
           "s3's notice merged into s2's (both sent): %zu records", o.n_records);
        r = outbuf_peek(&o);
        ok(r && r->seq == s4 && r->kind == RECORD_STDOUT, "cursor undisturbed");

        /* A reader that starts over sees exactly what was lost. */
        outbuf_rewind(&o, 0);
        for (; (r = outbuf_peek(&o)); outbuf_advance(&o)) {
                if (r->kind == RECORD_DROPPED)
                        seen_dropped += r->value;
                else
                        seen_bytes += r->size;
        }
        is_int(seen_dropped, (int64_t) o.dropped, "new reader is told of every dropped byte");
        is_int(seen_dropped + (int64_t) seen_bytes, 60, "dropped + received = produced");
        is_int(outbuf_ack(&o, o.next_seq - 1), 30, "ack of everything frees the held bytes");
        ok(!outbuf_has(&o, 0) && outbuf_peek(&o) == NULL, "empty");
        ok(outbuf_consistent(&o), "consistent");
        (void) s3;
        outbuf_done(&o);
}

static void test_drop_with_filter(void) {
        OutBuf o;
        const OutRecord *r;

        /* A filtered reader on command 2 while command 1's output drops. */
        outbuf_init(&o, 20, BUFFERING_DROP);
        append(&o, 1, RECORD_STDOUT, "1111111111");
        append(&o, 2, RECORD_STDOUT, "2222222222");
        outbuf_rewind(&o, 2);
        r = outbuf_peek(&o);
        ok(r && r->cmd_id == 2, "filtered cursor on command 2");
        append(&o, 2, RECORD_STDOUT, "3333333333");     /* drops command 1's record */
        is_int(dropped_of(&o, 1), 10, "command 1 drop accounted to command 1");
        r = outbuf_peek(&o);
        ok(r && r->cmd_id == 2 && r->kind == RECORD_STDOUT, "filtered cursor unaffected");
        append(&o, 2, RECORD_STDOUT, "4444444444");     /* drops the cursor record */
        r = outbuf_peek(&o);
        ok(r && r->kind == RECORD_DROPPED && r->cmd_id == 2 && r->value == 10, "cursor on command 2's notice");
        is_int(dropped_of(&o, 2), 10, "command 2 drop accounted to command 2");
        is_int(o.dropped, 20, "total");
        ok(outbuf_consistent(&o), "consistent");
        outbuf_done(&o);
}

static void test_mode_switch(void) {
        OutBuf o;

        outbuf_init(&o, 10, BUFFERING_BLOCK);
        append(&o, 1, RECORD_STDOUT, "0123456789");
        append(&o, 1, RECORD_STDOUT, "abcdefghij");
        is_int(o.used, 20, "block mode held 20");
        o.mode = BUFFERING_DROP;
        append(&o, 1, RECORD_STDOUT, "k");
        is_int(o.dropped, 20, "switching to drop discards down to max");
        is_int(o.used, 1, "only the newest held");
        ok(outbuf_consistent(&o), "consistent");
        outbuf_done(&o);
}

/* Random operations; after each, the list is consistent and for every
 * command: bytes appended = bytes held + bytes in drop notices held +
 * bytes acknowledged + bytes of notices acknowledged. */
static void test_random(void) {
        enum { CMDS = 4 };
        uint64_t appended[CMDS + 1] = {}, gone[CMDS + 1] = {};
        static char data[300];
        uint32_t rng = 12345;
        bool good = true;
        OutBuf o;

        memset(data, 'r', sizeof data);
        outbuf_init(&o, 1000, BUFFERING_DROP);
        for (int i = 0; i < 100000 && good; i++) {
                uint32_t x;

                rng = rng * 1103515245u + 12345u;
                x = rng >> 8;
                switch (x % 8) {
                case 0: case 1: {
                        uint32_t cmd = 1 + (x >> 3) % CMDS;
                        size_t n = (x >> 6) % sizeof data;
                        uint8_t kind = (x >> 16) % 8 == 0 ? RECORD_START : (x >> 16) % 8 == 1 ? RECORD_EXIT :
                                       (x >> 16) % 2 ? RECORD_STDOUT : RECORD_STDERR;
                        if (kind == RECORD_EXIT)
                                n = 0;
                        if (outbuf_append(&o, cmd, kind, 0, data, n, NULL) < 0)
                                good = false;
                        appended[cmd] += n;
                        break;
                }
                case 2: case 3: case 4:
                        outbuf_advance(&o);
                        break;
                case 5: {
                        /* ack: count what leaves, as the client would */
                        /* mostly what was sent, sometimes anything */
                        uint64_t seq = o.cursor ? o.cursor->seq - 1 : o.next_seq - 1;
                        if ((x >> 3) % 4 == 0 && o.next_seq > 1)
                                seq = 1 + (x >> 5) % (o.next_seq - 1);
                        const OutRecord *cur = o.cursor;
                        for (const OutRecord *r = o.head; r && r->seq <= seq && r != cur; r = r->next)
                                if (o.filter == 0 || r->cmd_id == o.filter)
                                        gone[r->cmd_id] += r->kind == RECORD_DROPPED ? (uint64_t) r->value : r->size;
                        if (outbuf_ack(&o, seq) < 0)
                                good = false;
                        break;
                }
                case 6:
                        if ((x >> 3) % 16 == 0)
                                outbuf_rewind(&o, (x >> 7) % (CMDS + 1));
                        break;
                case 7:
                        if ((x >> 3) % 64 == 0)
                                o.mode = o.mode == BUFFERING_DROP ? BUFFERING_BLOCK : BUFFERING_DROP;
                        break;
                }
                if (i % 64 != 0)
                        continue;
                if (!outbuf_consistent(&o)) {
                        diag("inconsistent after step %d", i);
                        good = false;
                }
                for (uint32_t c = 1; c <= CMDS && good; c++) {
                        uint64_t held = 0;
                        for (const OutRecord *r = o.head; r; r = r->next)
                                if (r->cmd_id == c)
                                        held += r->kind == RECORD_DROPPED ? (uint64_t) r->value : r->size;
                        if (held + gone[c] != appended[c]) {
                                diag("step %d: command %u: held %llu + gone %llu != appended %llu", i, c,
                                     (unsigned long long) held, (unsigned long long) gone[c],
                                     (unsigned long long) appended[c]);
                                good = false;
                        }
                }
        }
        ok(good, "100000 random operations keep the list consistent and every byte accounted for");
        ok(o.dropped > 0 && o.next_seq > 20000, "and they exercised drops (%llu bytes, %zu records held)",
           (unsigned long long) o.dropped, o.n_records);
        outbuf_done(&o);
}

int main(void) {
        plan(0);
        test_basics();
        test_block_room();
        test_ack_only_sent();
        test_ack_past();
        test_filter();
        test_rewind_after_reader_died();
        test_forget();
        test_forget_written();
        test_drop_exact();
        test_drop_nothing_to_drop();
        test_drop_merge_bounded();
        test_cursor_across_drops();
        test_drop_with_filter();
        test_mode_switch();
        test_random();
        return done_testing();
}
