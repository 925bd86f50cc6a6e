#ifndef BATCHGATE_FUZZ_DRIVER_H
#define BATCHGATE_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's per-input callback.
typedef int (*batchgate_fuzz_test_one_input)(const uint8_t *data, size_t size);

/// Whether libFuzzer is linked in (the driver was built with -sanitize=fuzzer).
int batchgate_fuzz_has_libfuzzer(void);

/// Hands the process to libFuzzer's LLVMFuzzerRunDriver; returns -1 when libFuzzer is not linked in.
int batchgate_fuzz_run_driver(int *argc, char ***argv, batchgate_fuzz_test_one_input callback);

#endif
