using ILGPU;

namespace Tomalign.Kernels;

/// <summary>Scalars of a local slab launch (see Tomalign.Core.Backend.LocalSlabGeometry).</summary>
internal readonly struct LocalSlabShape(int width, int rows, int views, int thickness, float zShift, int inRows)
{
    public int Width { get; } = width;
    public int Rows { get; } = rows;
    public int Views { get; } = views;
    public int Thickness { get; } = thickness;
    public float ZShift { get; } = zShift;
    public int InRows { get; } = inRows;
}

/// <summary>Backprojection with local alignments; the managed twin is Tomalign.Cpu.CpuLocalBackprojector.</summary>
internal static class LocalReconstructionKernels
{
    /// <summary>
    /// One thread per voxel: index (x, z, row). The voxel column's projection in view i is the column table's
    /// (Uf, Uz, Vf, Vz): u = Uf + Uz·Z, v = Vf + Vz·Z; bilinear sample, zero outside.
    /// </summary>
    public static void Backproject(Index3D index, ArrayView<float> projections, ArrayView<float> columns, ArrayView<float> weights,
        ArrayView<float> slab, LocalSlabShape s)
    {
        int x = index.X, z = index.Y, r = index.Z;
        float zz = z - s.Thickness / 2.0f + s.ZShift;
        long c = 4L * ((long)r * s.Width + x) * s.Views;
        float sum = 0;
        for (int i = 0; i < s.Views; i++)
        {
            long ci = c + 4L * i;
            float u = columns[ci] + columns[ci + 1] * zz;
            float v = columns[ci + 2] + columns[ci + 3] * zz;
            sum += weights[i] * ReconstructionKernels.Sample2(projections, (long)i * s.InRows * s.Width, s.Width, s.InRows, u, v);
        }
        slab[((long)r * s.Thickness + z) * s.Width + x] = sum;
    }
}
