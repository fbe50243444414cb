using ILGPU;

namespace Tomalign.Kernels;

/// <summary>
/// The shape of one warp launch. Scalars travel in one struct so the kernel signature stays short.
/// </summary>
internal readonly struct WarpShape
{
    public WarpShape(int nx, int ny, int nxo, int nyo, int bin)
    {
        Nx = nx; Ny = ny; Nxo = nxo; Nyo = nyo; Bin = bin;
        Xc = nx / 2.0f; Yc = ny / 2.0f;           // NX/2.0: exact in float for any NX < 2^24
        InvBinArea = 1.0f / (bin * bin);
        MaxX = nx - 1; MaxY = ny - 1;
    }

    public int Nx { get; }
    public int Ny { get; }
    public int Nxo { get; }
    public int Nyo { get; }
    public int Bin { get; }
    public float Xc { get; }
    public float Yc { get; }
    public float InvBinArea { get; }
    public double MaxX { get; }
    public double MaxY { get; }
}

/// <summary>
/// Samples one view of a stack at a position known to lie inside [0, NX−1]×[0, NY−1], given as its pixel (ix, iy)
/// and the fractions (fx, fy) ∈ [0, 1) past it.
/// </summary>
internal interface IWarpInterpolator
{
    float Sample(ArrayView<float> source, long viewOffset, int nx, int ny, int ix, int iy, float fx, float fy);
}

/// <summary>Bilinear interpolation; the upper neighbour is clamped to the image.</summary>
internal readonly struct LinearInterpolator : IWarpInterpolator
{
    public float Sample(ArrayView<float> source, long viewOffset, int nx, int ny, int ix, int iy, float fx, float fy)
    {
        int ix1 = WarpMath.Min(ix + 1, nx - 1), iy1 = WarpMath.Min(iy + 1, ny - 1);
        long row0 = viewOffset + (long)iy * nx, row1 = viewOffset + (long)iy1 * nx;
        float top = WarpMath.Lerp(source[row0 + ix], source[row0 + ix1], fx);
        float bottom = WarpMath.Lerp(source[row1 + ix], source[row1 + ix1], fx);
        return WarpMath.Lerp(top, bottom, fy);
    }
}

/// <summary>Catmull-Rom cubic convolution (a = −0.5) over 4×4 neighbours clamped to the image.</summary>
internal readonly struct CubicInterpolator : IWarpInterpolator
{
    public float Sample(ArrayView<float> source, long viewOffset, int nx, int ny, int ix, int iy, float fx, float fy)
    {
        float wx0 = WarpMath.CubicW0(fx), wx1 = WarpMath.CubicW1(fx), wx2 = WarpMath.CubicW2(fx), wx3 = WarpMath.CubicW3(fx);
        int x0 = WarpMath.Clamp(ix - 1, 0, nx - 1), x1 = ix;
        int x2 = WarpMath.Min(ix + 1, nx - 1), x3 = WarpMath.Min(ix + 2, nx - 1);
        float sum = 0.0f;
        for (int m = 0; m < 4; m++)
        {
            int y = WarpMath.Clamp(iy - 1 + m, 0, ny - 1);
            long row = viewOffset + (long)y * nx;
            float rowValue = wx0 * source[row + x0] + wx1 * source[row + x1] + wx2 * source[row + x2] + wx3 * source[row + x3];
            float wy = m == 0 ? WarpMath.CubicW0(fy) : m == 1 ? WarpMath.CubicW1(fy) : m == 2 ? WarpMath.CubicW2(fy) : WarpMath.CubicW3(fy);
            sum += wy * rowValue;
        }
        return sum;
    }
}

/// <summary>The arithmetic of the warp kernels, in one place (ILGPU's XMath habit).</summary>
internal static class WarpMath
{
    public static int Min(int a, int b) => a < b ? a : b;
    public static int Clamp(int v, int lo, int hi) => v < lo ? lo : v > hi ? hi : v;
    public static float Lerp(float a, float b, float t) => (1.0f - t) * a + t * b;

    // Catmull-Rom weights for the neighbours at −1, 0, +1, +2 of a fractional offset t ∈ [0, 1).
    public static float CubicW0(float t) => ((-0.5f * t + 1.0f) * t - 0.5f) * t;
    public static float CubicW1(float t) => (1.5f * t - 2.5f) * t * t + 1.0f;
    public static float CubicW2(float t) => ((-1.5f * t + 2.0f) * t + 0.5f) * t;
    public static float CubicW3(float t) => (0.5f * t - 0.5f) * t * t;

    /// <summary>
    /// Source position of an unbinned aligned position at (dx, dy) from the centre, from the view's inverse transform
    /// b = (B11, B12, B21, B22, Cx, Cy) with Cx = Ex + Xc, Cy = Ey + Yc (folded on the host in double, then rounded to
    /// float once). Computed in double: each product of two floats is exact there, so (B11·dx + B12·dy) + Cx rounds
    /// the same way whether or not a compiler contracts it into fused multiply-adds, and the position — which sets
    /// the pixel and the interpolation weights — is the same bit for bit on every device and in the managed twin.
    /// In float it would not be: the absolute position of a 1024-px image has an ulp of 1.2e-4 px, and a GPU's FMA
    /// contraction moved it by that much (measured on an H200, 2026-12-04).
    /// </summary>
    public static double SourceX(ArrayView<float> b, long o, float dx, float dy) => (double)b[o] * dx + (double)b[o + 1] * dy + b[o + 4];
    public static double SourceY(ArrayView<float> b, long o, float dx, float dy) => (double)b[o + 2] * dx + (double)b[o + 3] * dy + b[o + 5];
}

internal static class WarpKernels
{
    /// <summary>Coefficients stored per view in the inverse-transform array.</summary>
    public const int CoefficientsPerView = 6;

    /// <summary>
    /// Warps (and bins) a chunk of views; IStackWarper's definition.
    /// Threads: index.X = output column i ∈ [0, nxo), index.Y = output row j ∈ [0, nyo),
    /// index.Z = view z of the chunk; one thread writes destination[(z·nyo + j)·nxo + i].
    /// Neighbouring threads in X read neighbouring source pixels (coalesced for small rotations).
    /// source: the chunk's views, nx×ny each, x fastest. inverse: 6 floats per view (WarpMath.SourceX).
    /// fill: one value per view, used by samples outside [0, NX−1]×[0, NY−1].
    /// </summary>
    internal static void Warp<TInterpolator>(Index3D index, ArrayView<float> source, ArrayView<float> inverse,
        ArrayView<float> fill, ArrayView<float> destination, WarpShape shape, TInterpolator interpolator)
        where TInterpolator : struct, IWarpInterpolator
    {
        int i = index.X, j = index.Y, z = index.Z;
        long viewOffset = (long)z * shape.Nx * shape.Ny;
        long coefficients = (long)z * CoefficientsPerView;
        float fillValue = fill[z];
        float sum = 0.0f;
        for (int l = 0; l < shape.Bin; l++)
        {
            float dy = (j * shape.Bin + l) - shape.Yc;
            for (int k = 0; k < shape.Bin; k++)
            {
                float dx = (i * shape.Bin + k) - shape.Xc;
                double sx = WarpMath.SourceX(inverse, coefficients, dx, dy);
                double sy = WarpMath.SourceY(inverse, coefficients, dx, dy);
                bool inside = sx >= 0.0 && sx <= shape.MaxX && sy >= 0.0 && sy <= shape.MaxY;
                if (inside)
                {
                    // sx, sy ≥ 0, so truncation is floor; sx − ix is exact in double.
                    int ix = (int)sx, iy = (int)sy;
                    sum += interpolator.Sample(source, viewOffset, shape.Nx, shape.Ny, ix, iy, (float)(sx - ix), (float)(sy - iy));
                }
                else sum += fillValue;
            }
        }
        destination[((long)z * shape.Nyo + j) * shape.Nxo + i] = shape.Bin == 1 ? sum : sum * shape.InvBinArea;
    }
}
