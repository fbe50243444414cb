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

    private static float Sample2(ArrayView<float> data, long offset, int width, int rows, float u, float v)
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
