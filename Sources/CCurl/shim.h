#ifndef BATCHGATE_CCURL_SHIM_H
#define BATCHGATE_CCURL_SHIM_H

/* The wrappers pass non-constant options, which the GCC type checks cannot inspect. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <sys/types.h>

/* curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are C variadics, which Swift cannot call.
   These typed wrappers give Swift one entry point per argument type. */

typedef size_t (*bg_curl_data_callback)(char *buffer, size_t size, size_t count, void *userdata);

static inline CURLcode bg_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode bg_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode bg_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode bg_curl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode bg_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

/* For CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION. */
static inline CURLcode bg_curl_easy_setopt_data_callback(CURL *handle, CURLoption option, bg_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}

/* For CURLOPT_PREREQFUNCTION. */
static inline CURLcode bg_curl_easy_setopt_prereq_callback(CURL *handle, CURLoption option, curl_prereq_callback value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode bg_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode bg_curl_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLMcode bg_curl_multi_setopt_long(CURLM *handle, CURLMoption option, long value) {
    return curl_multi_setopt(handle, option, value);
}

/* CURL_GLOBAL_DEFAULT is a macro expression Swift does not import. */
static inline CURLcode bg_curl_global_init_default(void) {
    return curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Return values of a CURLOPT_PREREQFUNCTION callback. */
static const int bg_curl_prereq_ok = CURL_PREREQFUNC_OK;
static const int bg_curl_prereq_abort = CURL_PREREQFUNC_ABORT;

/* CURLPIPE_MULTIPLEX is a `long` macro (2L). */
static const long bg_curlpipe_multiplex = CURLPIPE_MULTIPLEX;

#endif
