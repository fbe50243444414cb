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
    public float MaxX { get; }
    public float MaxY { get; }
}

/// <summary>Samples one view of a stack at a position known to lie inside [0, NX−1]×[0, NY−1].</summary>
internal interface IWarpInterpolator
{
    float Sample(ArrayView<float> source, long viewOffset, int nx, int ny, float sx, float sy);
}

/// <summary>Bilinear interpolation; the upper neighbour is clamped to the image.</summary>
internal readonly struct LinearInterpolator : IWarpInterpolator
{
    public float Sample(ArrayView<float> source, long viewOffset, int nx, int ny, float sx, float sy)
    {
        // sx, sy ≥ 0, so truncation is floor.
        int ix = (int)sx, iy = (int)sy;
        float fx = sx - ix, fy = sy - iy;
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
    public float Sample(ArrayView<float> source, long viewOffset, int nx, int ny, float sx, float sy)
    {
        int ix = (int)sx, iy = (int)sy;
        float fx = sx - ix, fy = sy - iy;
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
    /// Source position of an unbinned aligned position (ox, oy), from the view's inverse transform
    /// b = (B11, B12, B21, B22, Cx, Cy) with Cx = Ex + Xc, Cy = Ey + Yc (folded on the host in double).
    /// Coordinates are taken relative to the centre, so a float keeps ≈1e-4 px even at 4096 px.
    /// </summary>
    public static float SourceX(ArrayView<float> b, long o, float dx, float dy) => b[o] * dx + b[o + 1] * dy + b[o + 4];
    public static float SourceY(ArrayView<float> b, long o, float dx, float dy) => b[o + 2] * dx + b[o + 3] * dy + b[o + 5];
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
                float sx = WarpMath.SourceX(inverse, coefficients, dx, dy);
                float sy = WarpMath.SourceY(inverse, coefficients, dx, dy);
                bool inside = sx >= 0.0f && sx <= shape.MaxX && sy >= 0.0f && sy <= shape.MaxY;
                sum += inside ? interpolator.Sample(source, viewOffset, shape.Nx, shape.Ny, sx, sy) : fillValue;
            }
        }
        destination[((long)z * shape.Nyo + j) * shape.Nxo + i] = shape.Bin == 1 ? sum : sum * shape.InvBinArea;
    }
}
