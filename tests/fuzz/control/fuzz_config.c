/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target: the config parser and validator on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sluice_config *cfg = sluice_config_new();
	char value[SLUICE_CONFIG_STR_MAX + 64];

	if (!cfg)
		return 0;
	cfg->online_cpus = 2;
	/* The data-dir probe touches the filesystem: keep the fuzzer pure. */
	cfg->skip_env_checks = true;
	sluice_config_parse(cfg, "fuzz.ini", (const char *)data, size);
	sluice_config_validate(cfg);
	/* Values that parsed must print back in a form that parses again. */
	if (sluice_config_get(cfg, "eal.lcores", value, sizeof(value)) == 0) {
		char assignment[sizeof(value) + 16];
		memcpy(assignment, "eal.lcores=", 11);
		memcpy(assignment + 11, value, strlen(value) + 1);
		if (sluice_config_error_count(cfg) == 0 &&
		    sluice_config_override(cfg, assignment, 1) != 0)
			abort();
	}
	for (uint32_t i = 0; i < sluice_config_error_count(cfg); i++)
		if (!strchr(sluice_config_error(cfg, i), ':'))
			abort();
	sluice_config_free(cfg);
	return 0;
}
