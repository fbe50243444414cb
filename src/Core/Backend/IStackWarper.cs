using Tomalign.Core.Geometry;

namespace Tomalign.Core.Backend;

public enum Interpolation { Linear = 0, Cubic = 1 }

/// <summary>Options of a stack warp (IMOD newstack -xform, -bin, -linear).</summary>
public sealed record WarpOptions
{
    public WarpOptions(int bin = 1, Interpolation interpolation = Interpolation.Linear)
    {
        if (bin < 1) throw new ArgumentOutOfRangeException(nameof(bin), "binning must be ≥ 1");
        Bin = bin;
        Interpolation = interpolation;
    }

    public int Bin { get; }
    public Interpolation Interpolation { get; }

    public int OutputWidth(int nx) => nx / Bin;
    public int OutputHeight(int ny) => ny / Bin;
}

/// <summary>
/// Warps every view of a stack by its own 2×3 transform (raw → aligned, IMOD .xf semantics),
/// with optional binning: newstack's job. The definition both backends implement exactly:
/// <list type="bullet">
/// <item>The output has (NX/bin)×(NY/bin) pixels per view (integer division). Output pixel
/// (i, j) of view z is the mean of bin×bin samples at unbinned aligned positions
/// (ox, oy) = (i·bin + k, j·bin + l), k, l ∈ [0, bin).</item>
/// <item>Each sample is the input view at s = xf⁻¹(ox, oy) about the centre (NX/2.0, NY/2.0)
/// (the same centre for input and output), interpolated bilinearly, or with Catmull-Rom cubic
/// (a = −0.5) when asked, with neighbour indices clamped to the image.</item>
/// <item>A sample whose source position lies outside [0, NX−1]×[0, NY−1] takes the view's fill
/// value (newstack fills with the view mean).</item>
/// </list>
/// </summary>
public interface IStackWarper
{
    /// <param name="source">nz views of nx×ny pixels, x fastest.</param>
    /// <param name="transforms">one raw → aligned transform per view.</param>
    /// <param name="fill">one fill value per view.</param>
    /// <param name="destination">nz views of OutputWidth×OutputHeight pixels; every element is written.</param>
    void Warp(ReadOnlySpan<float> source, int nx, int ny, int nz, ReadOnlySpan<Xf> transforms,
        ReadOnlySpan<float> fill, WarpOptions options, Span<float> destination);
}

/// <summary>Checks the arguments of <see cref="IStackWarper.Warp"/>; shared by both backends.</summary>
public static class WarpArguments
{
    public static void Validate(ReadOnlySpan<float> source, int nx, int ny, int nz, ReadOnlySpan<Xf> transforms,
        ReadOnlySpan<float> fill, WarpOptions options, Span<float> destination)
    {
        if (nx <= 0 || ny <= 0 || nz <= 0) throw new ArgumentOutOfRangeException(nameof(nx), $"bad stack size {nx}×{ny}×{nz}");
        if (source.Length != (long)nx * ny * nz) throw new ArgumentException($"source has {source.Length} pixels, expected {nx}×{ny}×{nz}");
        if (transforms.Length != nz) throw new ArgumentException($"{transforms.Length} transforms for {nz} views");
        if (fill.Length != nz) throw new ArgumentException($"{fill.Length} fill values for {nz} views");
        int nxo = options.OutputWidth(nx), nyo = options.OutputHeight(ny);
        if (nxo < 1 || nyo < 1) throw new ArgumentException($"binning {options.Bin} leaves no pixel of a {nx}×{ny} view");
        if (destination.Length != (long)nxo * nyo * nz) throw new ArgumentException($"destination has {destination.Length} pixels, expected {nxo}×{nyo}×{nz}");
    }
}
