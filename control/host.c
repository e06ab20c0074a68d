/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The host as sysfs and procfs describe it (see host.h).
 *
 * Threading contract: none needed; every function reads files and keeps no state.
 *
 * Why sysfs rather than libnuma or DPDK: sluiced checks its NUMA placement before EAL starts
 * (a warning belongs before anything is allocated), and sluicectl doctor runs without EAL or
 * libnuma; both read what the kernel exports, under a root that tests can fake.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"

const char *sluice_host_root(void)
{
	const char *r = getenv("SLUICE_HOST_ROOT");

	return r ? r : "";
}

static int host_path(const char *root, const char *path, char *out, size_t len)
{
	int n = snprintf(out, len, "%s%s", root ? root : "", path);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int sluice_host_read(const char *root, const char *path, char *buf, size_t len)
{
	char full[PATH_MAX];
	ssize_t n;
	int fd, rc;

	if (len == 0)
		return -EINVAL;
	buf[0] = '\0';
	rc = host_path(root, path, full, sizeof(full));
	if (rc)
		return rc;
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc)
		return rc;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	n = (ssize_t)strlen(buf);
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	return (int)n;
}

bool sluice_host_exists(const char *root, const char *path)
{
	char full[PATH_MAX];
	struct stat st;

	return host_path(root, path, full, sizeof(full)) == 0 && stat(full, &st) == 0;
}

bool sluice_host_cpuset_has(const struct sluice_host_cpuset *set, unsigned id)
{
	return id < SLUICE_HOST_MAX_CPUS && ((set->bits[id / 64] >> (id % 64)) & 1);
}

void sluice_host_cpuset_add(struct sluice_host_cpuset *set, unsigned id)
{
	if (id < SLUICE_HOST_MAX_CPUS)
		set->bits[id / 64] |= 1ull << (id % 64);
}

unsigned sluice_host_cpuset_count(const struct sluice_host_cpuset *set)
{
	unsigned n = 0;

	for (size_t i = 0; i < SLUICE_HOST_MAX_CPUS / 64; i++)
		n += (unsigned)__builtin_popcountll(set->bits[i]);
	return n;
}

static int parse_id(const char **pp, unsigned long *out)
{
	char *e;

	if (!isdigit((unsigned char)**pp))
		return -EINVAL;
	errno = 0;
	*out = strtoul(*pp, &e, 10);
	if (errno || *out >= SLUICE_HOST_MAX_CPUS)
		return -EINVAL;
	*pp = e;
	return 0;
}

int sluice_host_cpuset_parse(const char *list, struct sluice_host_cpuset *out)
{
	const char *p = list;

	memset(out, 0, sizeof(*out));
	while (*p == ' ')
		p++;
	if (*p == '\0')
		return 0;
	for (;;) {
		unsigned long a, b;

		if (parse_id(&p, &a))
			return -EINVAL;
		b = a;
		if (*p == '-') {
			p++;
			if (parse_id(&p, &b) || b < a)
				return -EINVAL;
		}
		for (unsigned long i = a; i <= b; i++)
			sluice_host_cpuset_add(out, (unsigned)i);
		if (*p == '\0' || *p == '\n' || *p == ' ')
			return 0;
		if (*p != ',')
			return -EINVAL;
		p++;
	}
}

void sluice_host_cpuset_format(const struct sluice_host_cpuset *set, char *out, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return;
	out[0] = '\0';
	for (unsigned i = 0; i < SLUICE_HOST_MAX_CPUS && used < len; i++) {
		unsigned j = i;
		int n;

		if (!sluice_host_cpuset_has(set, i))
			continue;
		while (j + 1 < SLUICE_HOST_MAX_CPUS && sluice_host_cpuset_has(set, j + 1))
			j++;
		if (j == i)
			n = snprintf(out + used, len - used, "%s%u", used ? "," : "", i);
		else
			n = snprintf(out + used, len - used, "%s%u-%u", used ? "," : "", i, j);
		if (n < 0)
			break;
		used += (size_t)n;
		i = j;
	}
}

int sluice_host_cpu_node(const char *root, unsigned cpu)
{
	char path[PATH_MAX], dir[128];
	struct dirent *e;
	DIR *dh;
	int node = 0;

	snprintf(dir, sizeof(dir), "/sys/devices/system/cpu/cpu%u", cpu);
	if (!sluice_host_exists(root, dir))
		return -ENOENT;
	if (!sluice_host_exists(root, "/sys/devices/system/node"))
		return 0;
	if (host_path(root, dir, path, sizeof(path)))
		return -ENAMETOOLONG;
	dh = opendir(path);
	if (!dh)
		return -errno;
	/* The kernel links cpuN/nodeM for the node the CPU belongs to. */
	while ((e = readdir(dh))) {
		char *end;
		unsigned long v;

		if (strncmp(e->d_name, "node", 4) != 0 || !isdigit((unsigned char)e->d_name[4]))
			continue;
		v = strtoul(e->d_name + 4, &end, 10);
		if (*end == '\0' && v < SLUICE_HOST_MAX_NODES) {
			node = (int)v;
			break;
		}
	}
	closedir(dh);
	return node;
}

int sluice_host_node_cpus(const char *root, int node, struct sluice_host_cpuset *out)
{
	char path[96], buf[4096];
	int rc;

	memset(out, 0, sizeof(*out));
	if (node < 0)
		return -ENOENT;
	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", node);
	rc = sluice_host_read(root, path, buf, sizeof(buf));
	if (rc == -ENOENT && node == 0 && !sluice_host_exists(root, "/sys/devices/system/node"))
		rc = sluice_host_read(root, "/sys/devices/system/cpu/online", buf, sizeof(buf));
	if (rc < 0)
		return rc;
	return sluice_host_cpuset_parse(buf, out);
}

int sluice_host_nodes(const char *root, struct sluice_host_cpuset *out)
{
	char buf[1024];
	int rc = sluice_host_read(root, "/sys/devices/system/node/online", buf, sizeof(buf));

	if (rc == -ENOENT) {
		memset(out, 0, sizeof(*out));
		sluice_host_cpuset_add(out, 0);
		return 0;
	}
	if (rc < 0)
		return rc;
	return sluice_host_cpuset_parse(buf, out);
}

void sluice_host_pci_normalize(const char *addr, char *out, size_t len)
{
	unsigned a, b, c, d;
	char tail;

	if (sscanf(addr, "%x:%x:%x.%x%c", &a, &b, &c, &d, &tail) == 4)
		snprintf(out, len, "%04x:%02x:%02x.%x", a, b, c, d);
	else if (sscanf(addr, "%x:%x.%x%c", &b, &c, &d, &tail) == 3)
		snprintf(out, len, "0000:%02x:%02x.%x", b, c, d);
	else
		snprintf(out, len, "%s", addr);
}

int sluice_host_vdev_iface(const struct sluice_config_port *port, char *out, size_t len)
{
	static const char *const kinds[] = {"net_af_packet", "net_af_xdp", "net_pcap"};
	const char *p = port->args;
	bool known = false;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		known = known || strncmp(port->device, kinds[i], strlen(kinds[i])) == 0;
	if (port->pci || !known)
		return -ENOENT;
	while (*p) {
		size_t n = strcspn(p, ",");

		if (n > 6 && strncmp(p, "iface=", 6) == 0 && n - 6 < len) {
			memcpy(out, p + 6, n - 6);
			out[n - 6] = '\0';
			return 0;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return -ENOENT;
}

static int read_int(const char *root, const char *path, long *out)
{
	char buf[64], *end;
	int rc = sluice_host_read(root, path, buf, sizeof(buf));

	if (rc < 0)
		return rc;
	errno = 0;
	*out = strtol(buf, &end, 10);
	return errno || end == buf ? -EINVAL : 0;
}

int sluice_host_port_node(const char *root, const struct sluice_config_port *port, char *what,
			  size_t what_len)
{
	char path[PATH_MAX], name[128];
	long node;
	int rc;

	if (port->pci) {
		sluice_host_pci_normalize(port->device, name, sizeof(name));
		if (what)
			snprintf(what, what_len, "%s", name);
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", name);
		if (!sluice_host_exists(root, path))
			return -ENODEV;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/numa_node", name);
	} else if (sluice_host_vdev_iface(port, name, sizeof(name)) == 0) {
		if (what)
			snprintf(what, what_len, "%s on %s", port->device, name);
		snprintf(path, sizeof(path), "/sys/class/net/%s", name);
		if (!sluice_host_exists(root, path))
			return -ENODEV;
		/* A veth, tap or loopback has no device behind it, hence no node. */
		snprintf(path, sizeof(path), "/sys/class/net/%s/device/numa_node", name);
	} else {
		if (what)
			snprintf(what, what_len, "%s", port->device);
		return -1;
	}
	rc = read_int(root, path, &node);
	if (rc < 0 || node < 0 || node >= SLUICE_HOST_MAX_NODES)
		return -1;
	return (int)node;
}

int sluice_host_worker_cpus(const struct sluice_config *cfg, uint32_t worker,
			    struct sluice_host_cpuset *out)
{
	struct sluice_cpu_list l;
	int rc;

	memset(out, 0, sizeof(*out));
	if (worker >= cfg->eal.nworker_lcores)
		return -ENOENT;
	rc = sluice_config_lcore_cpus(cfg, cfg->eal.worker_lcore[worker], &l);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < l.n; i++)
		sluice_host_cpuset_add(out, l.id[i]);
	return 0;
}

unsigned sluice_host_numa_check(const char *root, const struct sluice_config *cfg,
				void (*warn)(void *arg, uint32_t port, const char *msg), void *arg)
{
	unsigned warnings = 0;

	for (uint32_t p = 0; p < cfg->nports; p++) {
		char what[192], msg[1024], list[256], node_cpus[256];
		struct sluice_host_cpuset near;
		size_t used = 0;
		unsigned far = 0;
		int pnode = sluice_host_port_node(root, &cfg->ports[p], what, sizeof(what));

		if (pnode < 0)
			continue;
		list[0] = '\0';
		for (uint32_t w = 0; w < cfg->eal.nworker_lcores; w++) {
			struct sluice_host_cpuset cpus;
			bool local = false;
			unsigned first = SLUICE_HOST_MAX_CPUS;
			int cnode = -1;

			if (sluice_host_worker_cpus(cfg, w, &cpus))
				continue;
			for (unsigned c = 0; c < SLUICE_HOST_MAX_CPUS; c++) {
				int n;
				if (!sluice_host_cpuset_has(&cpus, c))
					continue;
				n = sluice_host_cpu_node(root, c);
				if (n == pnode)
					local = true;
				if (first == SLUICE_HOST_MAX_CPUS) {
					first = c;
					cnode = n;
				}
			}
			/* A worker that may float onto a CPU of the port's node is not flagged:
			 * the operator chose a group; doctor's cpu checks judge groups. */
			if (local || first == SLUICE_HOST_MAX_CPUS)
				continue;
			far++;
			if (used < sizeof(list)) {
				int n = snprintf(list + used, sizeof(list) - used,
						 "%sworker %u (lcore %u, CPU %u, node %d)",
						 used ? ", " : "", w, cfg->eal.worker_lcore[w],
						 first, cnode);
				used += n > 0 ? (size_t)n : 0;
			}
		}
		if (!far)
			continue;
		node_cpus[0] = '\0';
		if (sluice_host_node_cpus(root, pnode, &near) == 0)
			sluice_host_cpuset_format(&near, node_cpus, sizeof(node_cpus));
		snprintf(msg, sizeof(msg),
			 "NUMA: port %s (%s) is on node %d but %s poll%s it from another node: "
			 "every packet and its mbuf cross the interconnect; give the workers CPUs "
			 "of node %d%s%s%s in eal.lcores",
			 cfg->ports[p].name, what, pnode, list, far == 1 ? "s" : "", pnode,
			 node_cpus[0] ? " (" : "", node_cpus, node_cpus[0] ? ")" : "");
		warn(arg, p, msg);
		warnings++;
	}
	return warnings;
}
