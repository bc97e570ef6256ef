#ifndef CCURLSHIMS_H
#define CCURLSHIMS_H
#include <curl/curl.h>

/* Swift cannot call C variadic functions: one typed, non-variadic forwarder per argument kind. */
CURLcode CCurlShims_easy_setopt_long(CURL *_Nonnull handle, CURLoption option, long value);
CURLcode CCurlShims_easy_setopt_offset(CURL *_Nonnull handle, CURLoption option, curl_off_t value);
CURLcode CCurlShims_easy_setopt_string(CURL *_Nonnull handle, CURLoption option, const char *_Nullable value);
CURLcode CCurlShims_easy_setopt_pointer(CURL *_Nonnull handle, CURLoption option, void *_Nullable value);
CURLcode CCurlShims_easy_setopt_slist(CURL *_Nonnull handle, CURLoption option, struct curl_slist *_Nullable value);
CURLcode CCurlShims_easy_setopt_write_callback(CURL *_Nonnull handle, CURLoption option,
                                               curl_write_callback _Nullable callback);
CURLcode CCurlShims_easy_setopt_read_callback(CURL *_Nonnull handle, CURLoption option,
                                              curl_read_callback _Nullable callback);
CURLcode CCurlShims_easy_setopt_xferinfo_callback(CURL *_Nonnull handle, CURLoption option,
                                                  curl_xferinfo_callback _Nullable callback);
CURLcode CCurlShims_easy_setopt_blob(CURL *_Nonnull handle, CURLoption option, const void *_Nonnull data, size_t length);
CURLcode CCurlShims_easy_getinfo_long(CURL *_Nonnull handle, CURLINFO info, long *_Nonnull value);
#endif
