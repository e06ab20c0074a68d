/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Built by libsluice_pkgconfig.sh with the flags `pkg-config libsluice` gives, as a program
 * outside the tree would be: sends N events to HOST PORT in acknowledged mode and prints
 * its counters. Exit 0 when every event was acknowledged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice_client.h>

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	struct sluice_client_opts o = {.host = argv[1],
				       .port = (uint16_t)atoi(argv[2]),
				       .partition = 2,
				       .producer_id = 4242,
				       .epoch = 3,
				       .rto_min_us = 5000};
	struct sluice_client *c;
	int n = atoi(argv[3]), rc = sluice_client_create(&o, &c);
	if (rc)
		return 1;
	for (int i = 0; i < n && rc == 0; i++) {
		char v[32];
		int len = snprintf(v, sizeof(v), "event-%d", i);
		rc = sluice_client_send(c, NULL, 0, v, (size_t)len, 0, 0);
	}
	if (rc == 0)
		rc = sluice_client_flush(c, 20000);
	struct sluice_client_stats st;
	sluice_client_stats(c, &st);
	printf("events %llu acked %llu datagrams %llu retransmits %llu acks %llu ignored %llu "
	       "malformed %llu\n",
	       (unsigned long long)st.events, (unsigned long long)st.events_acked,
	       (unsigned long long)st.datagrams, (unsigned long long)st.retransmits,
	       (unsigned long long)st.acks, (unsigned long long)st.acks_ignored,
	       (unsigned long long)st.acks_malformed);
	sluice_client_destroy(c);
	return rc == 0 && st.events_acked == (unsigned long long)n ? 0 : 1;
}
