/* The metrics line against Firecracker's layout: every group and field Ember emits is one of
 * Firecracker's, with a number for a value; the subset docs/METRICS.md promises is all
 * there; counters are deltas since the last line, values are not. */
#include "unit.h"
#include "vmm/controller.h"
#include "vmm/metrics.h"

#include <jansson.h>
#include <string.h>

/* Firecracker's metrics layout, from its tests/host_tools/fcmetrics.py (validate_fc_metrics,
 * firecracker at 81b38b9): each group and its fields, space-separated; a field ending in
 * "{}" is an object (a latency aggregate). block_<id> and net_<id> have block's and net's. */
static const struct {
	const char *group, *fields;
} fc_layout[] = {
    {"api_server", "process_startup_time_us process_startup_time_cpu_us"},
    {"balloon", "activate_fails inflate_count stats_updates_count stats_update_fails deflate_count "
                "event_fails free_page_report_count free_page_report_freed free_page_report_fails "
                "free_page_hint_count free_page_hint_freed free_page_hint_fails"},
    {"block", "activate_fails cfg_fails no_avail_buffer event_fails execute_fails "
              "invalid_reqs_count flush_count queue_event_count rate_limiter_event_count "
              "update_count update_fails read_bytes write_bytes read_count write_count "
              "rate_limiter_throttled_events io_engine_throttled_events remaining_reqs_count "
              "read_agg{} write_agg{}"},
    {"deprecated_api", "deprecated_http_api_calls"},
    {"get_api_requests",
     "instance_info_count machine_cfg_count mmds_count vmm_version_count hotplug_memory_count"},
    {"i8042",
     "error_count missed_read_count missed_write_count read_count reset_count write_count"},
    {"latencies_us", "full_create_snapshot diff_create_snapshot load_snapshot pause_vm resume_vm "
                     "vmm_full_create_snapshot vmm_diff_create_snapshot vmm_load_snapshot "
                     "vmm_pause_vm vmm_resume_vm"},
    {"logger", "missed_metrics_count metrics_fails missed_log_count rate_limited_log_count"},
    {"mmds", "rx_accepted rx_accepted_err rx_accepted_unusual rx_bad_eth rx_invalid_token "
             "rx_no_token rx_count tx_bytes tx_count tx_errors tx_frames connections_created "
             "connections_destroyed"},
    {"net", "activate_fails cfg_fails no_rx_avail_buffer no_tx_avail_buffer event_fails "
            "rx_queue_event_count rx_event_rate_limiter_count rx_rate_limiter_throttled "
            "rx_tap_event_count rx_bytes_count rx_packets_count rx_fails rx_count tap_read_fails "
            "tap_write_fails tx_bytes_count tx_malformed_frames tx_fails tx_count "
            "tx_packets_count tx_queue_event_count tx_rate_limiter_event_count "
            "tx_rate_limiter_throttled tx_spoofed_mac_count tx_remaining_reqs_count "
            "tap_write_agg{}"},
    {"patch_api_requests", "drive_count drive_fails network_count network_fails "
                           "machine_cfg_count machine_cfg_fails mmds_count mmds_fails "
                           "hotplug_memory_count hotplug_memory_fails pmem_count pmem_fails"},
    {"put_api_requests",
     "actions_count actions_fails boot_source_count boot_source_fails drive_count drive_fails "
     "logger_count logger_fails machine_cfg_count machine_cfg_fails cpu_cfg_count cpu_cfg_fails "
     "metrics_count metrics_fails network_count network_fails mmds_count mmds_fails "
     "vsock_count vsock_fails pmem_count pmem_fails serial_count serial_fails "
     "hotplug_memory_count hotplug_memory_fails"},
    {"seccomp", "num_faults"},
    {"vcpu", "exit_io_in exit_io_out exit_mmio_read exit_mmio_write failures kvmclock_ctrl_fails "
             "exit_io_in_agg{} exit_io_out_agg{} exit_mmio_read_agg{} exit_mmio_write_agg{}"},
    {"vmm", "panic_count"},
    {"uart", "error_count flush_count missed_read_count missed_write_count read_count "
             "write_count rate_limiter_dropped_bytes"},
    {"signals", "sigbus sigsegv sigxfsz sigxcpu sigpipe sighup sigill"},
    {"vsock", "activate_fails cfg_fails rx_queue_event_fails tx_queue_event_fails "
              "ev_queue_event_fails muxer_event_fails conn_event_fails rx_queue_event_count "
              "tx_queue_event_count rx_bytes_count tx_bytes_count rx_packets_count "
              "tx_packets_count conns_added conns_killed conns_removed killq_resync "
              "tx_flush_fails tx_write_fails rx_read_fails"},
    {"entropy", "activate_fails entropy_event_fails entropy_event_count entropy_bytes "
                "host_rng_fails entropy_rate_limiter_throttled rate_limiter_event_count"},
    {"interrupts", "triggers config_updates"},
};

/* The subset docs/METRICS.md promises: these groups, always. */
static const char *const promised[] = {"api_server",
                                       "get_api_requests",
                                       "put_api_requests",
                                       "patch_api_requests",
                                       "latencies_us",
                                       "logger",
                                       "interrupts",
                                       "block",
                                       "net",
                                       "vsock",
                                       "entropy"};

static const char *fc_fields(const char *group)
{
	char base[64];
	snprintf(base, sizeof(base), "%s", group);
	/* Per-device groups: block_<drive_id>, net_<iface_id>. */
	if (!strncmp(base, "block_", 6))
		base[5] = 0;
	else if (!strncmp(base, "net_", 4))
		base[3] = 0;
	for (size_t i = 0; i < sizeof(fc_layout) / sizeof(fc_layout[0]); i++)
		if (!strcmp(fc_layout[i].group, base))
			return fc_layout[i].fields;
	return NULL;
}

/* Whether field (a number) is one of fields' words (without "{}"). */
static bool has_word(const char *fields, const char *field)
{
	size_t n = strlen(field);
	for (const char *p = fields; *p;) {
		size_t w = strcspn(p, " ");
		if (w == n && !strncmp(p, field, n))
			return true;
		p += w;
		p += *p == ' ';
	}
	return false;
}

/* The whole line against Firecracker's layout. */
static void check_layout(json_t *line)
{
	const char *group;
	json_t *g;
	assert_true(json_is_object(line));
	assert_true(json_is_integer(json_object_get(line, "utc_timestamp_ms")));
	json_object_foreach(line, group, g)
	{
		if (!strcmp(group, "utc_timestamp_ms"))
			continue;
		const char *fields = fc_fields(group);
		if (!fields)
			fail_msg("group '%s' is not one of Firecracker's", group);
		assert_true(json_is_object(g));
		const char *field;
		json_t *v;
		json_object_foreach(g, field, v)
		{
			if (!has_word(fields, field))
				fail_msg("'%s.%s' is not one of Firecracker's fields", group,
				         field);
			if (!json_is_integer(v) || json_integer_value(v) < 0)
				fail_msg("'%s.%s' is not a count", group, field);
		}
	}
	for (size_t i = 0; i < sizeof(promised) / sizeof(promised[0]); i++)
		if (!json_is_object(json_object_get(line, promised[i])))
			fail_msg("the promised group '%s' is missing", promised[i]);
}

static json_int_t at(json_t *line, const char *group, const char *field)
{
	json_t *v = json_object_get(json_object_get(line, group), field);
	if (!json_is_integer(v))
		fail_msg("no %s.%s", group, field);
	return json_integer_value(v);
}

/* Every counter of the line is 0, except skip (group.field) if given. */
static void all_zero(json_t *line)
{
	const char *group, *field;
	json_t *g, *v;
	json_object_foreach(line, group, g)
	{
		if (!json_is_object(g) || !strcmp(group, "api_server") ||
		    !strcmp(group, "latencies_us"))
			continue;
		json_object_foreach(g, field, v)
		{
			if (json_integer_value(v) != 0)
				fail_msg("%s.%s is %lld after a flush with nothing done", group,
				         field, (long long)json_integer_value(v));
		}
	}
}

static void sample_with_devices(struct metrics_sample *s)
{
	memset(s, 0, sizeof(*s));
	s->ndevs = 4;
	s->devs[0] = (struct metrics_dev){.group = "block", .id = "rootfs", .per_device = true};
	s->devs[1] = (struct metrics_dev){.group = "block", .id = "scratch", .per_device = true};
	s->devs[2] = (struct metrics_dev){.group = "net", .id = "net1", .per_device = true};
	s->devs[3] = (struct metrics_dev){.group = "entropy"};
}

static void layout_and_deltas(void **state)
{
	(void)state;
	static struct metrics_sample s;
	static struct metrics_state st;
	memset(&st, 0, sizeof(st));
	sample_with_devices(&s);
	s.op_count[CTL_PUT_MACHINE_CONFIG] = 3;
	s.op_fails[CTL_PUT_MACHINE_CONFIG] = 1;
	s.op_count[CTL_ACTION_INSTANCE_START] = 1;
	s.op_count[CTL_ACTION_FLUSH_METRICS] = 1;
	s.op_count[CTL_GET_INFO] = 2;
	s.op_fails[CTL_GET_INFO] = 0;
	s.src[MSRC_STARTUP] = 4000;
	s.src[MSRC_LAT_PAUSE] = 17;
	s.src[MSRC_VCPU_IO_OUT] = 900;
	s.devs[0].v[0] = 10; /* rootfs queue_event_count */
	s.devs[1].v[0] = 5;
	s.devs[2].v[2] = 1500; /* net1 rx_bytes_count */

	json_t *l1 = metrics_render(&s, &st, 1234);
	assert_non_null(l1);
	check_layout(l1);
	assert_int_equal(at(l1, "put_api_requests", "machine_cfg_count"), 3);
	assert_int_equal(at(l1, "put_api_requests", "machine_cfg_fails"), 1);
	assert_int_equal(at(l1, "put_api_requests", "actions_count"), 2);
	assert_int_equal(at(l1, "get_api_requests", "instance_info_count"), 2);
	assert_null(
	    json_object_get(json_object_get(l1, "get_api_requests"), "instance_info_fails"));
	assert_int_equal(at(l1, "block_rootfs", "queue_event_count"), 10);
	assert_int_equal(at(l1, "block_scratch", "queue_event_count"), 5);
	assert_int_equal(at(l1, "block", "queue_event_count"), 15);
	assert_int_equal(at(l1, "net_net1", "rx_bytes_count"), 1500);
	assert_int_equal(at(l1, "net", "rx_bytes_count"), 1500);
	assert_int_equal(at(l1, "entropy", "entropy_event_count"), 0);
	assert_int_equal(at(l1, "vcpu", "exit_io_out"), 900);
	assert_null(json_object_get(l1, "entropy_")); /* one device, no per-device group */

	/* Nothing happened since: every counter 0, the values as they were. */
	json_t *l2 = metrics_render(&s, &st, 1235);
	check_layout(l2);
	all_zero(l2);
	assert_int_equal(at(l2, "api_server", "process_startup_time_us"), 4000);
	assert_int_equal(at(l2, "latencies_us", "vmm_pause_vm"), 17);

	/* Only the new counts. */
	s.op_count[CTL_PUT_MACHINE_CONFIG]++;
	s.devs[1].v[0] += 7;
	json_t *l3 = metrics_render(&s, &st, 1236);
	check_layout(l3);
	assert_int_equal(at(l3, "put_api_requests", "machine_cfg_count"), 1);
	assert_int_equal(at(l3, "put_api_requests", "machine_cfg_fails"), 0);
	assert_int_equal(at(l3, "block_rootfs", "queue_event_count"), 0);
	assert_int_equal(at(l3, "block_scratch", "queue_event_count"), 7);
	assert_int_equal(at(l3, "block", "queue_event_count"), 7);
	json_decref(l1);
	json_decref(l2);
	json_decref(l3);
}

/* Before boot: no devices, yet every aggregate group is there, in zeros. */
static void no_devices(void **state)
{
	(void)state;
	static struct metrics_sample s;
	static struct metrics_state st;
	memset(&s, 0, sizeof(s));
	memset(&st, 0, sizeof(st));
	json_t *l = metrics_render(&s, &st, 1);
	check_layout(l);
	all_zero(l);
	assert_null(json_object_get(l, "block_rootfs"));
	json_decref(l);
}

/* Every row's and device group's names are Firecracker's (also those no sample above set). */
static void every_row_is_firecrackers(void **state)
{
	(void)state;
	for (unsigned i = 0; i < metrics_nrows; i++) {
		const char *f = fc_fields(metrics_rows[i].group);
		assert_non_null(f);
		if (!has_word(f, metrics_rows[i].field))
			fail_msg("row %s.%s", metrics_rows[i].group, metrics_rows[i].field);
	}
	static const char *const groups[] = {"block", "net", "vsock", "entropy"};
	for (unsigned g = 0; g < 4; g++) {
		const char *const *names = metrics_dev_fields(groups[g]);
		assert_non_null(names);
		for (unsigned k = 0; names[k]; k++)
			assert_true(has_word(fc_fields(groups[g]), names[k]));
	}
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(layout_and_deltas),
	    cmocka_unit_test(no_devices),
	    cmocka_unit_test(every_row_is_firecrackers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
