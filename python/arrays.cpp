#include "arrays.h"

#include <memory>
#include <string>

namespace hecnn::python {
namespace py = pybind11;

namespace {

std::string shape_of(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

template <class T>
std::span<const T> view(const py::array& a) {
    return {static_cast<const T*>(a.data()), static_cast<std::size_t>(a.size())};
}

}  // namespace

ImageArray image_array(py::handle obj) {
    py::object o = py::reinterpret_borrow<py::object>(obj);
    // A torch tensor: its CPU memory as a numpy array (shared, not copied), gradients dropped.
    if (py::hasattr(o, "detach") && py::hasattr(o, "cpu") && py::hasattr(o, "numpy")) o = o.attr("detach")().attr("cpu")().attr("numpy")();
    if (!py::isinstance<py::array>(o))
        throw py::type_error("images must be a numpy array or a torch tensor of shape (B, C, H, W), not " +
                             std::string(py::str(py::type::handle_of(o).attr("__name__"))));
    auto a = py::reinterpret_borrow<py::array>(o);
    // Native byte order only (EquivTypes): a big-endian array is another dtype.
    const bool u8 = py::isinstance<py::array_t<std::uint8_t>>(a), f32 = py::isinstance<py::array_t<float>>(a), f64 = py::isinstance<py::array_t<double>>(a);
    if (!u8 && !f32 && !f64)
        throw py::type_error("images have dtype " + std::string(py::str(a.dtype())) + ": give uint8, float32 or float64 pixel values on the 0 … 255 scale");
    if (a.ndim() != 4) throw py::value_error("images must have shape (B, C, H, W); got shape " + shape_of(a));
    if (a.shape(0) == 0) throw py::value_error("no images: shape " + shape_of(a));
    if (!(a.flags() & py::array::c_style)) a = py::array::ensure(a, py::array::c_style);  // one contiguous copy
    ImageArray r{a, {}};
    r.images.samples = static_cast<std::size_t>(a.shape(0));
    r.images.shape = {a.shape(1), a.shape(2), a.shape(3)};
    if (u8) r.images.pixels = view<std::uint8_t>(a);
    else if (f32) r.images.pixels = view<float>(a);
    else r.images.pixels = view<double>(a);
    return r;
}

py::array_t<double> logits_array(std::vector<double>&& values, std::size_t samples, std::size_t outputs) {
    auto* v = new std::vector<double>(std::move(values));
    py::capsule owner(v, [](void* p) { delete static_cast<std::vector<double>*>(p); });
    return py::array_t<double>({static_cast<py::ssize_t>(samples), static_cast<py::ssize_t>(outputs)}, v->data(), owner);
}

}  // namespace hecnn::python
