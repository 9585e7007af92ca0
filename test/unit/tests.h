/*
 * tests.h  Every unit test, one X(name) line each (an X-macro list).
 * Keep them grouped by file.
 */

/* test_params.c */
X(test_params_acc_defaults)
X(test_params_acc_valid)
X(test_params_acc_invalid)
X(test_params_acc_sip_addr)
X(test_params_errbuf)
X(test_params_settings_defaults)
X(test_params_setting_find)
X(test_params_setting_apply_valid)
X(test_params_setting_apply_invalid)
X(test_params_setting_unknown)

/* test_engine.c */
X(test_engine_r1_start_best_tier_only)
X(test_engine_r2_tier_fails_when_all_fail)
X(test_engine_r3_gaps_and_wrap)
X(test_engine_r3_initial_register_fails)
X(test_engine_r4_backoff_rounds)
X(test_engine_r5_old_success_ignored)
X(test_engine_r6_probe_interval_jitter)
X(test_engine_r7_skip_dead_tiers)
X(test_engine_r7_best_alive_first)
X(test_engine_r8_failback_after_hold)
X(test_engine_r8_flapping_holds)
X(test_engine_r8_worst_to_best)
X(test_engine_r8_failback_register_refused)
X(test_engine_r9_4xx_and_retry_after)
X(test_engine_r10_all_down_then_one_back)
X(test_engine_r30_runtime_add)
X(test_engine_r31_runtime_remove)
X(test_engine_scn_serial_none_then_first)
X(test_engine_stale_probe_answer)
X(test_engine_r33_start_empty_then_add)
X(test_engine_r30_add_while_waiting)
X(test_engine_r20_check_finds_silent_registrar)
X(test_engine_r20_check_answers)
X(test_engine_r34_call_holds_failback)
X(test_engine_r34_call_during_promotion)
X(test_engine_r34_call_no_hold_on_failover)
