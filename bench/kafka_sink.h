/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kafka_sink: a broker that acknowledges Produce requests at once and stores nothing, for
 * benchmarks of Kafka clients' own capacity (see kafka_sink.c). Loopback only.
 */
#ifndef SLUICE_KAFKA_SINK_H
#define SLUICE_KAFKA_SINK_H

#include <stdint.h>

struct kafka_sink;

/** Listen on 127.0.0.1 (any free port) and serve from a thread; every topic has
 * @p partitions partitions. @return 0 or -errno. */
int kafka_sink_start(uint32_t partitions, struct kafka_sink **out);
uint16_t kafka_sink_port(const struct kafka_sink *s);
/** Bytes of Produce requests received so far. */
uint64_t kafka_sink_produce_bytes(const struct kafka_sink *s);
/** Stop the thread, close everything. Accepts NULL. */
void kafka_sink_stop(struct kafka_sink *s);

#endif /* SLUICE_KAFKA_SINK_H */
