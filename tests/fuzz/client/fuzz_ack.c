/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libsluice's ack parser on arbitrary bytes (the appliance is untrusted from the producer's
 * side too): sluice_ack_decode() never reads outside its input; whatever it accepts encodes
 * back to the same bytes; applied to a window, an ack never frees more than is in flight,
 * never frees a datagram it does not cover, and leaves the window's counts consistent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_record.h"
#include "sluice_window.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sluice_ack a;
	uint8_t *copy = malloc(size ? size : 1);
	uint8_t out[SLUICE_ACK_MAX_BYTES];

	/* An exact-size heap copy: ASan catches any read past the end. */
	memcpy(copy, data, size);
	int rc = sluice_ack_decode(copy, size, &a);
	free(copy);
	if (rc != 0)
		return 0;
	size_t n = sluice_ack_encode(&a, out);
	if (n != size || memcmp(out, data, size) != 0)
		abort();

	static struct sluice_window *w;
	struct sluice_window_opts o = {.slots = 16,
				       .slot_bytes = 8,
				       .window_records = 1000,
				       .rto_min_us = 10,
				       .rto_max_us = 1000};
	if (!w && sluice_window_create(&o, &w) != 0)
		abort();
	/* 16 datagrams of 7 records each from sequence 0; refill after every ack. */
	while (sluice_window_inflight(w) < 16) {
		static int32_t next;
		if (next > 1000000) {
			sluice_window_destroy(w);
			if (sluice_window_create(&o, &w) != 0)
				abort();
			next = 0;
		}
		if (sluice_window_push(w, (const uint8_t *)"datagram", 8, next, 7, 0) != 0)
			abort();
		next += 7;
	}
	uint64_t before = sluice_window_inflight_records(w);
	int32_t low = sluice_window_low(w);
	uint64_t freed = sluice_window_ack(w, &a, 5);
	if (freed > before || sluice_window_inflight_records(w) != before - freed)
		abort();
	if (freed == 0 && sluice_window_low(w) != low)
		abort();
	if (sluice_window_inflight(w) > 16)
		abort();
	return 0;
}
