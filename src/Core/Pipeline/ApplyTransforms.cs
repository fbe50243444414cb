using Microsoft.Extensions.Logging;
using Tomalign.Core.Backend;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;

namespace Tomalign.Core.Pipeline;

/// <summary>Options of <see cref="ApplyTransforms"/> (IMOD newstack -xform F -bin N).</summary>
public sealed record ApplyOptions
{
    public int Bin { get; init; } = 1;
    public Interpolation Interpolation { get; init; } = Interpolation.Linear;
    public MrcMode OutputMode { get; init; } = MrcMode.Float32;
    /// <summary>Upper bound of host memory for one chunk of views (input + output).</summary>
    public long ChunkBytes { get; init; } = 512L << 20;
}

/// <summary>
/// Writes the aligned stack: every view of <c>input</c> warped by its .xf line (raw → aligned),
/// optionally binned, streamed by chunks of views so that no stack is held whole. Views are
/// filled with their mean where the transform reaches outside the raw image, as newstack does.
/// </summary>
public sealed class ApplyTransforms
{
    private readonly IComputeBackend _backend;
    private readonly ILogger _log;

    public ApplyTransforms(IComputeBackend backend, ILogger log)
    {
        _backend = backend;
        _log = log;
    }

    public sealed record Result(int Nx, int Ny, int Nz, double PixelSizeAngstrom);

    public Result Run(string inputPath, IReadOnlyList<Xf> transforms, string transformsPath, string outputPath,
        ApplyOptions options, IProgress<double>? progress = null)
    {
        using var reader = MrcReader.Open(inputPath);
        var h = reader.Header;
        TiltSeriesFiles.RequireCount(transformsPath, transforms.Count, "transforms", inputPath, h.Nz);
        if (Path.GetFullPath(inputPath) == Path.GetFullPath(outputPath))
            throw new TomalignInputException(outputPath, "the output would overwrite the input stack",
                "choose another output name (inputs are never modified)");

        var warp = new WarpOptions(options.Bin, options.Interpolation);
        int nxo = warp.OutputWidth(h.Nx), nyo = warp.OutputHeight(h.Ny);
        if (nxo < 1 || nyo < 1)
            throw new TomalignInputException(null, $"binning by {options.Bin} leaves no pixel of a {h.Nx}×{h.Ny} view", "use a smaller --bin");

        long viewIn = (long)h.Nx * h.Ny, viewOut = (long)nxo * nyo;
        int chunk = (int)Math.Clamp(options.ChunkBytes / (4 * (viewIn + viewOut)), 1, h.Nz);
        var src = new float[chunk * viewIn];
        var dst = new float[chunk * viewOut];
        var fill = new float[chunk];
        var xfs = new Xf[chunk];
        var writeOptions = MrcWriter.CopyHeaderOptions(h) with
        {
            PixelSizeAngstrom = h.PixelSizeX * options.Bin,
            Labels = [.. h.Labels.Take(8), $"tomalign apply: {Path.GetFileName(transformsPath)}, bin {options.Bin}"],
            ExtendedHeader = null,
        };
        _log.LogInformation("Warping {Nz} views of {Nx}×{Ny} → {Nxo}×{Nyo} on {Backend}, {Chunk} views at a time",
            h.Nz, h.Nx, h.Ny, nxo, nyo, _backend.Name, chunk);

        using var writer = MrcWriter.Create(outputPath, nxo, nyo, h.Nz, options.OutputMode, writeOptions);
        for (int z0 = 0; z0 < h.Nz; z0 += chunk)
        {
            int n = Math.Min(chunk, h.Nz - z0);
            var s = src.AsSpan(0, (int)(n * viewIn));
            reader.ReadSections(z0, n, s);
            for (int k = 0; k < n; k++)
            {
                fill[k] = ViewMean(s.Slice((int)(k * viewIn), (int)viewIn), inputPath, z0 + k);
                xfs[k] = transforms[z0 + k];
            }
            var d = dst.AsSpan(0, (int)(n * viewOut));
            _backend.Warper.Warp(s, h.Nx, h.Ny, n, xfs.AsSpan(0, n), fill.AsSpan(0, n), warp, d);
            writer.WriteSections(z0, n, d);
            progress?.Report((double)(z0 + n) / h.Nz);
        }
        writer.Commit();
        return new Result(nxo, nyo, h.Nz, h.PixelSizeX * options.Bin);
    }

    /// <summary>Mean of a view; a NaN or infinite pixel is an input error.</summary>
    internal static float ViewMean(ReadOnlySpan<float> view, string file, int z)
    {
        double sum = 0;
        int bad = 0;
        foreach (float v in view)
        {
            if (!float.IsFinite(v)) { bad++; continue; }
            sum += v;
        }
        if (bad > 0)
            throw new TomalignInputException(file, $"view {z} has {bad} NaN or infinite pixels",
                "replace them first (e.g. IMOD ccderaser or clip), or drop the view from the stack and its angle file");
        return (float)(sum / view.Length);
    }
}
