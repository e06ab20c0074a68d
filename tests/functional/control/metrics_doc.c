/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Prints the metric reference tables of docs/operations.md from the metrics registry
 * (control/metric_registry.c); metrics_docs.sh diffs them against the document.
 * `metrics_doc > tables.md` regenerates them after a registry change.
 */
#include <stdio.h>

#include "metric_registry.h"

int main(void)
{
	sluice_metric_docs_markdown(stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}
