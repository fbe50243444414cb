using ILGPU;
using ILGPU.Algorithms;

namespace Tomalign.Kernels;

/// <summary>Scalars of a slab launch (see Tomalign.Core.Backend.SlabGeometry).</summary>
internal readonly struct SlabShape(int width, int rows, int views, int thickness, float zShift,
    int inRows, float cosPhi, float sinPhi, float rowOffset, float inRowOrigin)
{
    public int InRows { get; } = inRows;
    public float CosPhi { get; } = cosPhi;
    public float SinPhi { get; } = sinPhi;
    public float RowOffset { get; } = rowOffset;
    public float InRowOrigin { get; } = inRowOrigin;
    public int Width { get; } = width;
    public int Rows { get; } = rows;
    public int Views { get; } = views;
    public int Thickness { get; } = thickness;
    public float ZShift { get; } = zShift;
}

/// <summary>Backprojection and forward projection; the managed twin is Tomalign.Cpu.CpuBackprojector.</summary>
internal static class ReconstructionKernels
{
    /// <summary>One thread per voxel: index (x, z, row).</summary>
    public static void Backproject(Index3D index, ArrayView<float> projections, ArrayView<float> cosines, ArrayView<float> sines,
        ArrayView<float> weights, ArrayView<float> slab, SlabShape s)
    {
        int x = index.X, z = index.Y, r = index.Z;
        float xc = s.Width / 2.0f, zc = s.Thickness / 2.0f;
        float xx = x - xc, zz = z - zc + s.ZShift;
        float yy = s.RowOffset + r;
        float depth = yy * s.SinPhi + zz * s.CosPhi;
        float v = yy * s.CosPhi - zz * s.SinPhi - s.InRowOrigin;
        float sum = 0;
        for (int i = 0; i < s.Views; i++)
        {
            float u = xx * cosines[i] + depth * sines[i] + xc;
            sum += weights[i] * Sample2(projections, (long)i * s.InRows * s.Width, s.Width, s.InRows, u, v);
        }
        slab[((long)r * s.Thickness + z) * s.Width + x] = sum;
    }

    /// <summary>One thread per projection sample: index (u, row, view).</summary>
    public static void Project(Index3D index, ArrayView<float> slab, ArrayView<float> cosines, ArrayView<float> sines,
        ArrayView<float> projections, SlabShape s)
    {
        int u = index.X, r = index.Y, i = index.Z;
        float xc = s.Width / 2.0f, zc = s.Thickness / 2.0f;
        float ci = cosines[i], si = sines[i], inv = 1.0f / ci, pathLength = 1.0f / XMath.Abs(ci);
        float uu = u - xc;
        float sum = 0;
        for (int z = 0; z < s.Thickness; z++)
        {
            float zz = z - zc + s.ZShift;
            float x = (uu - zz * si) * inv + xc;
            sum += Sample(slab, ((long)r * s.Thickness + z) * s.Width, s.Width, x);
        }
        projections[((long)i * s.Rows + r) * s.Width + u] = sum * pathLength;
    }

    // SIRT's elementwise steps (the iteration stays on the device; the managed twin is CpuBackprojector.Sirt).

    /// <summary>view[k] = value.</summary>
    public static void SirtFill(Index1D k, ArrayView<float> view, float value) => view[k] = value;

    /// <summary>view[k] = 1 where column k mod boxWidth lies in margin … margin+width−1 (the measured part of a widened line), else 0.</summary>
    public static void SirtLineMask(Index1D k, ArrayView<float> view, int boxWidth, int margin, int width)
    {
        int u = k % boxWidth;
        view[k] = u >= margin && u < margin + width ? 1f : 0f;
    }

    /// <summary>target[k] *= factor[k].</summary>
    public static void SirtMultiply(Index1D k, ArrayView<float> target, ArrayView<float> factor) => target[k] = target[k] * factor[k];

    /// <summary>The weighted residual: current[k] = (data[k] − current[k]) / rowSums[k] where the ray has length, else 0.</summary>
    public static void SirtCompare(Index1D k, ArrayView<float> current, ArrayView<float> data, ArrayView<float> rowSums)
    {
        float r = rowSums[k];
        current[k] = r > 1e-6f ? (data[k] - current[k]) / r : 0f;
    }

    /// <summary>volume[k] += λ·update[k] / colSums[k] where a view reaches the voxel; clamped at 0 when positivity ≠ 0.</summary>
    public static void SirtUpdate(Index1D k, ArrayView<float> volume, ArrayView<float> update, ArrayView<float> colSums, float lambda, int positivity)
    {
        float c = colSums[k];
        float v = volume[k] + (c > 1e-6f ? lambda * update[k] / c : 0f);
        volume[k] = positivity != 0 && v < 0 ? 0f : v;
    }

    /// <summary>slab[k] = the central width of the widened box: element k of lines of <paramref name="width"/>, taken from lines of boxWidth at column margin.</summary>
    public static void SirtCrop(Index1D k, ArrayView<float> box, ArrayView<float> slab, int boxWidth, int margin, int width)
    {
        int line = k / width, x = k - line * width;
        slab[k] = box[(long)line * boxWidth + margin + x];
    }

    internal static float Sample2(ArrayView<float> data, long offset, int width, int rows, float u, float v)
    {
        if (!(v > -1f) || !(v < rows)) return 0f;
        float fl = XMath.Floor(v);
        int k = (int)fl;
        float f = v - fl;
        float a = k >= 0 ? Sample(data, offset + (long)k * width, width, u) : 0f;
        float b = k + 1 < rows ? Sample(data, offset + (long)(k + 1) * width, width, u) : 0f;
        return a + (b - a) * f;
    }

    private static float Sample(ArrayView<float> data, long offset, int width, float u)
    {
        if (!(u > -1f) || !(u < width)) return 0f;
        float fl = XMath.Floor(u);
        int k = (int)fl;
        float f = u - fl;
        float a = k >= 0 ? data[offset + k] : 0f;
        float b = k + 1 < width ? data[offset + k + 1] : 0f;
        return a + (b - a) * f;
    }
}
