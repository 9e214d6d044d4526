// SPDX-License-Identifier: Apache-2.0
// The one way the project includes Boost.Asio and Beast. Boost 1.74's Asio uses std::exchange
// without including <utility>, which g++ 12 in C++20 mode does not provide transitively.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
