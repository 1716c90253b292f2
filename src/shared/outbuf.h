/* SPDX-License-Identifier: ISC */
/*
 * OutBuf: a session's output buffer.  An ordered list of records (output
 * chunks, command start and exit marks, drop notices), each with a sequence
 * number.  A record leaves the buffer only when a client acknowledges it
 * (outbuf_ack), so a client that dies mid-stream loses nothing.
 *
 * The byte budget (max) counts the data bytes of the records held.  In
 * block mode the caller stops reading the command's output while
 * outbuf_room() is 0; in drop mode outbuf_append() discards the oldest
 * output and leaves a RECORD_DROPPED record in its place that says exactly
 * how many bytes of which command were lost.
 *
 * One reader at a time (the connected client) has a send cursor and may
 * filter on one command id (a synchronous invoke sees only its command).
 * Pure: no I/O, no logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef struct OutRecord OutRecord;
struct OutRecord {
        OutRecord *prev, *next;
        uint64_t seq;
        uint32_t cmd_id;
        uint8_t kind;           /* RecordKind */
        int64_t value;          /* EXIT: status; DROPPED: bytes */
        size_t size;
        size_t skip;            /* output bytes already acknowledged (a partial ack) */
        uint8_t data[];
};

typedef struct OutBuf {
        OutRecord *head, *tail;
        OutRecord *cursor;      /* next record to send, NULL = none pending */
        uint32_t filter;        /* 0 = all commands, else only this command id */
        uint64_t next_seq;      /* seq of the next record appended (starts at 1) */
        size_t used;            /* data bytes held */
        size_t max;
        uint8_t mode;           /* Buffering */
        uint64_t dropped;       /* total bytes discarded in drop mode */
        size_t n_records;
} OutBuf;

void outbuf_init(OutBuf *o, size_t max, uint8_t mode);
void outbuf_done(OutBuf *o);

/* Bytes that may still be appended before the buffer is full (block mode). */
size_t outbuf_room(const OutBuf *o);

/* Appends one record (copying data).  In drop mode, makes room by turning
 * the oldest output records into drop notices.  Returns the new seq. */
int outbuf_append(OutBuf *o, uint32_t cmd_id, uint8_t kind, int64_t value,
                  const void *data, size_t size, uint64_t *ret_seq);

/* A new reader: the cursor goes back to the oldest unacknowledged record
 * that passes the filter (0 = every command). */
void outbuf_rewind(OutBuf *o, uint32_t filter);
/* Next record to send, or NULL; outbuf_advance() moves past it. */
const OutRecord *outbuf_peek(const OutBuf *o);
void outbuf_advance(OutBuf *o);

/* Frees every record with seq <= seq that passes the reader's filter.
 * -EINVAL if seq was never sent (seq >= next_seq). Returns bytes freed. */
int outbuf_ack(OutBuf *o, uint64_t seq);

/* Like outbuf_ack(seq - 1), and record seq is consumed up to byte offset
 * of its data (offset >= size: the whole record).  Its remaining bytes are
 * what a reader is sent next. */
int outbuf_ack_bytes(OutBuf *o, uint64_t seq, uint64_t offset);

/* Output record seq is consumed up to byte offset of its data (offset >=
 * size: the whole record), whether or not the current reader was sent it:
 * a write its predecessor announced and could not acknowledge.  Nothing
 * else changes (records before it are not the write's: what the
 * predecessor received of them it acknowledged with the announcement).
 * -EINVAL if seq never existed; returns bytes freed. */
int outbuf_forget(OutBuf *o, uint64_t seq, uint64_t offset);
/* A vanished reader announced a write of record seq from offset and then,
 * unheard, went on writing: bytes of output are known to have landed in
 * one file from there on (its size grew that much), and the reader wrote
 * its records in order, whole, each to the file of its stream (in_file:
 * stdout, stderr).  The records of filter below horizon (what it was sent)
 * are consumed as far as those bytes reach, with the records of the other
 * stream before the last byte that landed (written before it); what lies
 * past it is kept.  Returns bytes freed. */
int outbuf_forget_written(OutBuf *o, uint32_t filter, uint64_t horizon, uint64_t seq, uint64_t offset,
                          const bool in_file[2], uint64_t bytes);

/* Where the current reader's sending stands: records below this seq (that
 * pass its filter) were sent to it. */
uint64_t outbuf_sent_horizon(const OutBuf *o);
/* outbuf_ack_bytes() for a reader that is no longer the current one: the
 * records of its filter below horizon (outbuf_sent_horizon() when it was
 * still current) count as sent to it.  The current reader's cursor and
 * filter stay as they are.  -EINVAL if seq is not below horizon. */
int outbuf_ack_bytes_past(OutBuf *o, uint32_t filter, uint64_t horizon, uint64_t seq, uint64_t offset);

/* True if record seq is held and was sent to the current reader. */
bool outbuf_was_sent(const OutBuf *o, uint64_t seq);

/* True if records of this command (or any, for 0) are still held. */
bool outbuf_has(const OutBuf *o, uint32_t cmd_id);
