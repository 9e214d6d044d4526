// SPDX-License-Identifier: Apache-2.0
// YAML manifests to JSON, so one decoder (RapidJSON) reads both: each document of a YAML stream
// becomes one JSON text. Plain scalars get YAML 1.2 core-schema types (null, bool, int, float);
// quoted ones stay strings, as kubectl reads them.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace kipvs::config {

// The non-empty documents of `yaml`, each as JSON.
Result<std::vector<std::string>> yamlDocumentsToJson(const std::string& yaml);

}  // namespace kipvs::config
