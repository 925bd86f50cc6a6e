#include "CBatchGateFuzzDriver.h"

// Weak, so ordinary builds (the corpus replay tests, `swift build`) link without libFuzzer; the
// instrumented build links libFuzzer and passes `--undefined=LLVMFuzzerRunDriver` so it is pulled in.
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size))
    __attribute__((weak));

int batchgate_fuzz_has_libfuzzer(void) { return LLVMFuzzerRunDriver != 0; }

int batchgate_fuzz_run_driver(int *argc, char ***argv, batchgate_fuzz_test_one_input callback) {
    if (!LLVMFuzzerRunDriver) return -1;
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
