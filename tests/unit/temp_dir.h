// SPDX-License-Identifier: Apache-2.0
// Test support: a scratch folder removed at the end of the test, with a file writer.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace kipvs::test {

struct TempDir {
    std::filesystem::path path;
    TempDir()
    {
        char pattern[] = "/tmp/kipvs-test-XXXXXX";
        path = mkdtemp(pattern);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    // Writes `content` to `name` below the folder (making parent folders) and returns its path.
    std::string write(const std::string& name, const std::string& content)
    {
        std::filesystem::create_directories((path / name).parent_path());
        std::ofstream(path / name) << content;
        return (path / name).string();
    }
    std::string read(const std::string& name) const
    {
        std::ifstream in(path / name);
        return {std::istreambuf_iterator<char>(in), {}};
    }
};

}  // namespace kipvs::test
