// Conversions between Python's arrays and the library's buffers. Images arrive as a numpy
// array or a torch tensor of shape (B, C, H, W) holding pixel values on the 0 … 255 scale
// (uint8, float32 or float64); a C-contiguous array is read in place, anything else is made
// contiguous once. Logits leave as a numpy array that owns the library's vector (no copy).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <vector>

#include "hecnn/io/pixels.h"

namespace hecnn::python {

// The array (kept alive: `images` points into it while the GIL is released) and its view.
struct ImageArray {
    pybind11::array array;
    io::PixelImages images;
};

// Raises TypeError (not an array or tensor, another dtype) or ValueError (not 4-D, empty)
// naming what was given. Needs the GIL.
ImageArray image_array(pybind11::handle images);

// A (samples, outputs) float64 array owning `values`. Needs the GIL.
pybind11::array_t<double> logits_array(std::vector<double>&& values, std::size_t samples, std::size_t outputs);

}  // namespace hecnn::python
