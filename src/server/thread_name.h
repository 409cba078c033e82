// Names the calling thread (as `top -H`, /proc/PID/task/*/comm, gdb and scripts/proc_sample.py show it).
#pragma once

#include <pthread.h>

#include <string>

namespace kiln::server {

// Linux keeps 15 characters; longer names are cut, never refused.
inline void name_this_thread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace kiln::server
