using Microsoft.Extensions.Logging;
using Tomalign.Core.Backend;
using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;

namespace Tomalign.Core.Pipeline;

/// <summary>Options of <see cref="ApplyTransforms"/> (IMOD newstack -xform F -bin N).</summary>
public sealed record ApplyOptions
{
    public int Bin { get; init; } = 1;
    public Interpolation Interpolation { get; init; } = Interpolation.Linear;
    public MrcMode OutputMode { get; init; } = MrcMode.Float32;
    /// <summary>Views of the input (0-based) left out of the aligned stack, as newstack -exclude; the others keep their order.</summary>
    public IReadOnlyList<int> ExcludedViews { get; init; } = [];
    /// <summary>Upper bound of host memory for one chunk of views (input + output).</summary>
    public long ChunkBytes { get; init; } = 512L << 20;
}

/// <summary>
/// Writes the aligned stack: every view of <c>input</c> warped by its .xf line (raw → aligned),
/// optionally binned, streamed by chunks of views so that no stack is held whole. Views are
/// filled with their mean where the transform reaches outside the raw image, as newstack does.
/// <see cref="RunInMemory"/> instead keeps the aligned stack in memory (for a reconstruction that
/// follows at once) and <see cref="AlignedStack.Write"/> writes it to the same file afterwards.
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

    /// <summary>
    /// An aligned stack held in memory, destined for <see cref="OutputPath"/>: its pixels are exactly those the file
    /// holds once <see cref="Write"/> has run (rounded to half precision for mode 12).
    /// </summary>
    public sealed class AlignedStack
    {
        internal AlignedStack(ImageStack stack, string outputPath, MrcMode mode, MrcWriteOptions writeOptions, Result result)
        {
            Stack = stack; OutputPath = outputPath; Mode = mode; WriteOptions = writeOptions; Result = result;
        }

        public ImageStack Stack { get; }
        public string OutputPath { get; }
        public MrcMode Mode { get; }
        public MrcWriteOptions WriteOptions { get; }
        public Result Result { get; }

        /// <summary>The X pixel size (Å) a reader of the written file sees (the header stores the cell size as a float).</summary>
        public double StoredPixelSizeX => new MrcHeader { Nx = Stack.Nx, Mx = Stack.Nx, CellX = (float)(Stack.Nx * WriteOptions.EffectivePixelSizeX) }.PixelSizeX;

        /// <summary>
        /// Writes the stack to <see cref="OutputPath"/> (whole or not at all); may run on a background task while
        /// the stack is read elsewhere. Cancellation stops it between chunks of sections and leaves no file.
        /// </summary>
        public void Write(CancellationToken cancel = default)
        {
            var s = Stack;
            using var writer = MrcWriter.Create(OutputPath, s.Nx, s.Ny, s.Nz, Mode, WriteOptions);
            int perChunk = Math.Max(1, (16 << 20) / s.ViewLength);
            for (int z0 = 0; z0 < s.Nz; z0 += perChunk)
            {
                cancel.ThrowIfCancellationRequested();
                int n = Math.Min(perChunk, s.Nz - z0);
                writer.WriteSections(z0, n, s.Data.AsSpan((int)((long)z0 * s.ViewLength), n * s.ViewLength));
            }
            cancel.ThrowIfCancellationRequested();
            writer.Commit();
        }
    }

    /// <summary>Bytes of the aligned (binned) stack that <see cref="RunInMemory"/> would hold for this input.</summary>
    public static long AlignedBytes(string inputPath, ApplyOptions options)
    {
        using var reader = MrcReader.Open(inputPath);
        var warp = new WarpOptions(options.Bin, options.Interpolation);
        return 4L * Math.Max(0, warp.OutputWidth(reader.Nx)) * Math.Max(0, warp.OutputHeight(reader.Ny)) * reader.Nz;
    }

    public Result Run(string inputPath, IReadOnlyList<Xf> transforms, string transformsPath, string outputPath,
        ApplyOptions options, IProgress<double>? progress = null)
    {
        using var reader = MrcReader.Open(inputPath);
        var (result, writeOptions) = Prepare(reader, transforms, transformsPath, outputPath, options);
        using var writer = MrcWriter.Create(outputPath, result.Nx, result.Ny, result.Nz, options.OutputMode, writeOptions);
        long viewOut = (long)result.Nx * result.Ny;
        float[]? dst = null;
        WarpChunks(reader, transforms, options, result, progress,
            (z0, n) => (dst ??= new float[ChunkViews(reader.Header, result, options) * viewOut]).AsSpan(0, (int)(n * viewOut)),
            (z0, n, d) => writer.WriteSections(z0, n, d));
        writer.Commit();
        return result;
    }

    /// <summary>
    /// The aligned stack that <see cref="Run"/> would write to <paramref name="outputPath"/>, held in memory instead
    /// (call <see cref="AlignedStack.Write"/> to write it). The raw stack is still streamed by chunks.
    /// </summary>
    public AlignedStack RunInMemory(string inputPath, IReadOnlyList<Xf> transforms, string transformsPath, string outputPath,
        ApplyOptions options, IProgress<double>? progress = null)
    {
        using var reader = MrcReader.Open(inputPath);
        var (result, writeOptions) = Prepare(reader, transforms, transformsPath, outputPath, options);
        if ((long)result.Nx * result.Ny * result.Nz > Array.MaxLength)
            throw new InvalidOperationException($"an aligned stack of {result.Nx}×{result.Ny}×{result.Nz} is too large to hold in memory; use Run");
        var stack = new ImageStack(result.Nx, result.Ny, result.Nz);
        int viewOut = stack.ViewLength;
        WarpChunks(reader, transforms, options, result, progress,
            (z0, n) => stack.Data.AsSpan(z0 * viewOut, n * viewOut),
            (z0, n, d) =>
            {
                if (options.OutputMode == MrcMode.Float16)   // what the file will hold
                    foreach (ref float v in d) v = (float)(Half)v;
            });
        return new AlignedStack(stack, outputPath, options.OutputMode, writeOptions, result);
    }

    private delegate Span<float> ChunkTarget(int z0, int n);
    private delegate void ChunkDone(int z0, int n, Span<float> warped);

    private (Result Result, MrcWriteOptions WriteOptions) Prepare(MrcReader reader, IReadOnlyList<Xf> transforms, string transformsPath, string outputPath,
        ApplyOptions options)
    {
        var h = reader.Header;
        string inputPath = reader.Path;
        TiltSeriesFiles.RequireCount(transformsPath, transforms.Count, "transforms", inputPath, h.Nz);
        if (Path.GetFullPath(inputPath) == Path.GetFullPath(outputPath))
            throw new TomalignInputException(outputPath, "the output would overwrite the input stack",
                "choose another output name (inputs are never modified)");

        var warp = new WarpOptions(options.Bin, options.Interpolation);
        int nxo = warp.OutputWidth(h.Nx), nyo = warp.OutputHeight(h.Ny);
        if (nxo < 1 || nyo < 1)
            throw new TomalignInputException(null, $"binning by {options.Bin} leaves no pixel of a {h.Nx}×{h.Ny} view", "use a smaller --bin");
        // The copied header's per-axis pixel sizes override PixelSizeAngstrom: bin X and Y there (Z is the view index).
        int[] keep = KeptViews(h.Nz, options);
        if (keep.Length == 0)
            throw new TomalignInputException(inputPath, $"every one of its {h.Nz} views is excluded", "exclude fewer views");
        string left = keep.Length == h.Nz ? "" : $", views {string.Join(",", options.ExcludedViews.Order().Select(v => v + 1))} left out";
        var writeOptions = MrcWriter.CopyHeaderOptions(h) with
        {
            PixelSizeAngstrom = h.PixelSizeX * options.Bin,
            PixelSizeX = h.PixelSizeX * options.Bin,
            PixelSizeY = h.PixelSizeY * options.Bin,
            Labels = [.. h.Labels.Take(8), $"tomalign apply: {Path.GetFileName(transformsPath)}, bin {options.Bin}{left}"],
            ExtendedHeader = null,
        };
        return (new Result(nxo, nyo, keep.Length, h.PixelSizeX * options.Bin), writeOptions);
    }

    /// <summary>The input views written, in order: all but <see cref="ApplyOptions.ExcludedViews"/>.</summary>
    internal static int[] KeptViews(int nz, ApplyOptions options) => ViewScreening.KeptViews(options.ExcludedViews, nz);

    private static int ChunkViews(MrcHeader h, Result r, ApplyOptions options)
    {
        long viewIn = (long)h.Nx * h.Ny, viewOut = (long)r.Nx * r.Ny;
        return (int)Math.Clamp(options.ChunkBytes / (4 * (viewIn + viewOut)), 1, Math.Max(1, r.Nz));
    }

    /// <summary>Reads the raw stack by chunks of views and warps each chunk into <paramref name="target"/>, then tells <paramref name="done"/>.</summary>
    private void WarpChunks(MrcReader reader, IReadOnlyList<Xf> transforms, ApplyOptions options, Result r, IProgress<double>? progress,
        ChunkTarget target, ChunkDone done)
    {
        var h = reader.Header;
        var warp = new WarpOptions(options.Bin, options.Interpolation);
        long viewIn = (long)h.Nx * h.Ny;
        int chunk = ChunkViews(h, r, options);
        var src = new float[chunk * viewIn];
        var fill = new float[chunk];
        var xfs = new Xf[chunk];
        int[] keep = KeptViews(h.Nz, options);
        bool all = keep.Length == h.Nz;
        _log.LogInformation("Warping {Nz} views of {Nx}×{Ny} → {Nxo}×{Nyo} on {Backend}, {Chunk} views at a time",
            keep.Length, h.Nx, h.Ny, r.Nx, r.Ny, _backend.Name, chunk);
        for (int z0 = 0; z0 < keep.Length; z0 += chunk)
        {
            int n = Math.Min(chunk, keep.Length - z0);
            var s = src.AsSpan(0, (int)(n * viewIn));
            if (all) reader.ReadSections(z0, n, s);
            else
                for (int k = 0; k < n; k++) reader.ReadSections(keep[z0 + k], 1, s.Slice((int)(k * viewIn), (int)viewIn));
            for (int k = 0; k < n; k++)
            {
                fill[k] = ViewMean(s.Slice((int)(k * viewIn), (int)viewIn), reader.Path, keep[z0 + k]);
                xfs[k] = transforms[keep[z0 + k]];
            }
            var d = target(z0, n);
            _backend.Warper.Warp(s, h.Nx, h.Ny, n, xfs.AsSpan(0, n), fill.AsSpan(0, n), warp, d);
            done(z0, n, d);
            progress?.Report((double)(z0 + n) / keep.Length);
        }
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
