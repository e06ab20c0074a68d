/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of forward/session.c: the producer-session file round trip, the window of
 * remembered sessions, and a damaged file (refused, never guessed).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "forward_internal.h"

static const char *const topics[] = {"a", "a", "b"};
static const uint32_t parts[] = {0, 1, 0};

static void write_file(const char *dir, const char *text)
{
	assert_int_equal(sluice_storage_write_atomic(dir, FSESS_FILE, text, strlen(text)), 0);
}

static void test_round_trip(void **state)
{
	char dir[] = "/tmp/test_fsess.XXXXXX";
	struct fsessions ss, back;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(fsess_init(&ss, 3, topics, parts), 0);
	assert_int_equal(fsess_init(&back, 3, topics, parts), 0);
	assert_int_equal(fsess_load(&back, dir), 0); /* no file */
	fsess_push(&ss, 1000, 0);
	ss.s[0].base[0] = 0;
	ss.s[0].base[2] = 77;
	fsess_push(&ss, 1000, 1);
	ss.s[1].base[1] = 5;
	assert_int_equal(fsess_save(&ss, dir), 0);
	assert_int_equal(fsess_load(&back, dir), 1);
	assert_int_equal(back.n, 2);
	assert_int_equal(back.s[0].pid, 1000);
	assert_int_equal(back.s[0].epoch, 0);
	assert_int_equal(back.s[0].base[0], 0);
	assert_int_equal(back.s[0].base[1], -1);
	assert_int_equal(back.s[0].base[2], 77);
	assert_int_equal(back.s[1].epoch, 1);
	assert_int_equal(back.s[1].base[1], 5);
	assert_int_equal(fsess_find(&back, 1000, 1), 1);
	assert_int_equal(fsess_find(&back, 1000, 0), 0);
	assert_int_equal(fsess_find(&back, 1000, 2), -1);
	assert_int_equal(fsess_find(&back, 999, 0), -1);

	/* Only the newest FSESS_MAX are kept. */
	for (int i = 2; i < FSESS_MAX + 3; i++)
		fsess_push(&ss, 1000, (int16_t)i);
	assert_int_equal(ss.n, FSESS_MAX);
	assert_int_equal(ss.s[0].epoch, 3);
	assert_int_equal(ss.s[FSESS_MAX - 1].epoch, FSESS_MAX + 2);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(ss.s[FSESS_MAX - 1].base[i], -1);

	/* A partition no longer forwarded is ignored; a damaged line is refused. */
	write_file(dir, "# c\nsession 7 2\nbase gone 0 10\nbase a 1 3\n");
	assert_int_equal(fsess_load(&back, dir), 1);
	assert_int_equal(back.n, 1);
	assert_int_equal(back.s[0].base[1], 3);
	write_file(dir, "session 7 2\nbase a 1 x\n");
	assert_int_equal(fsess_load(&back, dir), -EBADMSG);
	assert_int_equal(back.n, 0);
	write_file(dir, "base a 1 3\n");
	assert_int_equal(fsess_load(&back, dir), -EBADMSG);
	write_file(dir, "session 7 99999\n");
	assert_int_equal(fsess_load(&back, dir), -EBADMSG);
	fsess_fini(&ss);
	fsess_fini(&back);
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, FSESS_FILE);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
