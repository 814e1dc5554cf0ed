// Images named on a command line, loaded as a model's input (images.h).
#include "hecnn/io/images.h"

#include <filesystem>

namespace hecnn::io {

std::string dataset_image_name(const std::string& dataset, bool train_split, std::size_t i) {
    return dataset + (train_split ? " train #" : " test #") + std::to_string(i);
}

bool is_dataset_name(const std::string& w) { return w == "fashion-mnist" || w == "cifar10" || w == "folder"; }

NamedImages load_images(const std::vector<std::string>& spec, const nn::Shape& shape, ImagePart part, std::size_t sample) {
    if (spec.empty()) throw DatasetError("no images named (fashion-mnist [DIR], cifar10 DIR, folder DIR or image files)");
    if (shape.size() != 3 || shape[1] != shape[2] || (shape[0] != 1 && shape[0] != 3))
        throw DatasetError("the model takes " + nn::to_string(shape) + " inputs, not grey or RGB square images [C,H,W]");
    const bool calib = part == ImagePart::calibration;
    const std::string& kind = spec[0];
    NamedImages im;
    if (is_dataset_name(kind)) {
        LoadOptions lo;
        lo.need_train = calib;
        lo.limit = sample;
        lo.folder.size = shape[1];
        lo.folder.channels = shape[0];
        if (!calib && kind == "folder") lo.folder.train = lo.folder.val = 0;  // inference on a folder: every image
        auto s = load_dataset(spec, lo);
        im.data = calib ? std::move(s.train) : std::move(s.test);
        for (std::size_t i = 0; i < im.data.size(); ++i) {
            const auto label = static_cast<std::size_t>(im.data.labels[i]);
            if (kind != "folder") im.names.push_back(dataset_image_name(kind, calib, i));
            else im.names.push_back((label < im.data.classes.size() ? im.data.classes[label] : kind) + " #" + std::to_string(i));
        }
    } else {
        std::vector<std::string> files = spec;
        if (sample && files.size() > sample) files.resize(sample);
        FolderOptions fo;
        fo.size = shape[1];
        fo.channels = shape[0];
        im.data = load_image_files(files, fo);
        for (const auto& f : files) im.names.push_back(std::filesystem::path(f).filename().string());
    }
    if (im.data.size() == 0) throw DatasetError("no images in " + kind + (calib ? "'s training split" : ""));
    if (im.data.channels != shape[0] || im.data.height != shape[1] || im.data.width != shape[2])
        throw DatasetError("the " + kind + " images are " + std::to_string(im.data.channels) + "x" + std::to_string(im.data.height) + "x" +
                           std::to_string(im.data.width) + ", the model takes " + nn::to_string(shape));
    return im;
}

}  // namespace hecnn::io
