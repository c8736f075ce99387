// A copy of a compiled model whose parameters (friction, masses, gains, everything an env may randomize) are its
// own, while the bulk asset data stays shared with the original: textures, heightfields, meshes, skins, names.
//
// A full mj_copyModel of ANYmal C costs 5.5 MB, 99% of it two textures, and with legged_gym's terrain another
// 5 MB of heightfield; this copy costs about 50 KB. The asset arrays are read-only for every env: an env that
// needs to change a heightfield or a mesh must compile its own model.
#pragma once

#include <mujoco/mujoco.h>
#include <mujoco/mjxmacro.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace raisim {

namespace detail {

// mjModel arrays that hold asset data rather than physical parameters.
inline bool isSharedAssetArray(std::string_view name) {
  for (std::string_view prefix : {"tex_data", "hfield_data", "mesh_", "skin_", "names", "paths", "text_data"})
    if (name.substr(0, prefix.size()) == prefix) return true;
  return false;
}

struct ParameterCopy {
  std::shared_ptr<const mjModel> original;  // owns the asset arrays the copy points into
  std::vector<unsigned char> storage;       // the copy's own arrays
  mjModel model;                            // the struct: sizes, options, and pointers to one or the other
};

}  // namespace detail

// The copy described above. It keeps `original` alive, and works wherever the original did (mjData made for one
// fits the other; mj_setConst, mj_step and mj_saveModel read and write it field by field).
inline std::shared_ptr<mjModel> copyModelParameters(std::shared_ptr<const mjModel> original) {
  constexpr std::size_t kAlignment = 64;  // MuJoCo aligns its own arrays to 64 bytes
  auto copy = std::make_shared<detail::ParameterCopy>();
  const mjModel* m = original.get();
  copy->original = std::move(original);
  copy->model = *m;

  MJMODEL_POINTERS_PREAMBLE(m)
  std::size_t bytes = 0;
  auto alignUp = [&](std::size_t offset) { return (offset + kAlignment - 1) / kAlignment * kAlignment; };
#define X(type, name, nr, nc) \
  if (!detail::isSharedAssetArray(#name)) bytes = alignUp(bytes) + sizeof(type) * static_cast<std::size_t>(m->nr) * (nc);
  MJMODEL_POINTERS
#undef X

  copy->storage.resize(bytes + kAlignment);
  unsigned char* base = copy->storage.data();
  base += (kAlignment - reinterpret_cast<std::uintptr_t>(base) % kAlignment) % kAlignment;
  std::size_t offset = 0;
#define X(type, name, nr, nc)                                                              \
  if (!detail::isSharedAssetArray(#name)) {                                                \
    const std::size_t size = sizeof(type) * static_cast<std::size_t>(m->nr) * (nc);        \
    offset = alignUp(offset);                                                              \
    copy->model.name = reinterpret_cast<type*>(base + offset);                             \
    if (size > 0) std::memcpy(copy->model.name, m->name, size);                            \
    offset += size;                                                                        \
  }
  MJMODEL_POINTERS
#undef X
  return std::shared_ptr<mjModel>(copy, &copy->model);
}

}  // namespace raisim
