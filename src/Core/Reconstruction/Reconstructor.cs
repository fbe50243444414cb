using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tomalign.Core.Backend;
using Tomalign.Core.Fft;
using Tomalign.Core.Formats;
using Tomalign.Core.Imaging;

namespace Tomalign.Core.Reconstruction;

public enum ReconstructionMethod { Wbp, Sirt }

/// <summary>
/// Output layout: XYZ (sections are Z levels, z increasing towards the source; IMOD tilt + trimvol -rx), or IMOD tilt's own
/// (sections are Y rows, each X × Z with its rows in the reverse order of z: row I is z index Thickness − 1 − I, as IMOD's tilt writes them).
/// </summary>
public enum VolumeLayout { Xyz, ImodYSlices }

/// <summary>Options of <see cref="Reconstructor"/> (IMOD tilt's names where they exist).</summary>
public sealed record ReconstructionOptions
{
    /// <summary>
    /// Views of the aligned stack (0-based) left out of the tomogram, as IMOD tilt's EXCLUDELIST: they are neither
    /// backprojected nor counted in the other views' weights. The tilt angles are still given for every view.
    /// </summary>
    public IReadOnlyList<int> ExcludedViews { get; init; } = [];
    /// <summary>Volume thickness in (binned) voxels.</summary>
    public int Thickness { get; init; } = 100;
    public ReconstructionMethod Method { get; init; } = ReconstructionMethod.Wbp;
    /// <summary>SIRT iterations.</summary>
    public int Iterations { get; init; } = 15;
    /// <summary>SIRT relaxation λ (0 &lt; λ ≤ 2).</summary>
    public double Relaxation { get; init; } = 1.0;
    /// <summary>SIRT: clamp negative densities to 0 after every iteration.</summary>
    public bool Positivity { get; init; }
    /// <summary>IMOD RADIAL: the ramp is flat up to this frequency (cycles/pixel) ...</summary>
    public double RadialCutoff { get; init; } = 0.35;
    /// <summary>... and falls off as a Gaussian of this sigma above it.</summary>
    public double RadialFalloff { get; init; } = 0.035;
    /// <summary>Hamming window on the ramp instead of the radial roll-off.</summary>
    public bool Hamming { get; init; }
    /// <summary>Reconstruct −ln(value) (transmitted intensity → projected density; IMOD tilt -LOG).</summary>
    public bool Log { get; init; }
    /// <summary>One x-axis tilt (degrees; IMOD tilt XAXISTILT, the solve's .xtilt): the specimen is rotated about X before the tilts. WBP only.</summary>
    public double XAxisTiltDegrees { get; init; }
    /// <summary>Shift of the volume along Z (voxels; positive moves the slab centre up).</summary>
    public float ZShift { get; init; }
    /// <summary>Bin the aligned views by N before reconstructing.</summary>
    public int Bin { get; init; } = 1;
    /// <summary>Width of the volume in X (binned pixels, centred); 0: the whole width.</summary>
    public int Width { get; init; }
    /// <summary>First and last Y row (binned, inclusive) to reconstruct; null: all.</summary>
    public (int First, int Last)? Slices { get; init; }
    public VolumeLayout Layout { get; init; } = VolumeLayout.Xyz;
    public MrcMode OutputMode { get; init; } = MrcMode.Float32;
    /// <summary>
    /// Host memory for one slab's projections and volume (bytes); slabs of Y rows are sized to fit. While one slab is
    /// computed, the next one's rows are read ahead and the previous one is written, so up to about twice this is held.
    /// On the managed CPU path at most <see cref="Reconstructor.CpuSlabBytes"/> is used: its speed does not depend on
    /// the slab size, so it keeps slabs small (memory, and less of the first read and the last write left unoverlapped).
    /// </summary>
    public long SlabMemoryBytes { get; init; } = 1L << 30;

    public void Validate()
    {
        if (Thickness < 1) throw new ArgumentException($"thickness must be ≥ 1 voxel, got {Thickness}");
        if (Iterations < 1) throw new ArgumentException($"SIRT needs ≥ 1 iteration, got {Iterations}");
        if (!(Relaxation > 0 && Relaxation <= 2)) throw new ArgumentException($"SIRT relaxation must be in (0, 2], got {Relaxation}");
        if (!(RadialCutoff > 0 && RadialCutoff <= 0.5) || !(RadialFalloff >= 0)) throw new ArgumentException($"radial filter {RadialCutoff}, {RadialFalloff}: cutoff in (0, 0.5], falloff ≥ 0");
        if (Bin < 1) throw new ArgumentException($"binning must be ≥ 1, got {Bin}");
        if (Width < 0) throw new ArgumentException($"width must be ≥ 0, got {Width}");
        if (!float.IsFinite(ZShift)) throw new ArgumentException("z shift must be a number");
        if (!(Math.Abs(XAxisTiltDegrees) < 45)) throw new ArgumentException($"the x-axis tilt must be within ±45°, got {XAxisTiltDegrees}");
        if (XAxisTiltDegrees != 0 && Method == ReconstructionMethod.Sirt) throw new ArgumentException("SIRT does not take an x-axis tilt yet; use WBP");
    }
}

/// <summary>
/// What a reconstruction did. <see cref="IoSeconds"/> is the time the computation waited for reading and writing;
/// <see cref="ReadSeconds"/> and <see cref="WriteSeconds"/> are the time the reading and writing took, most of it
/// overlapped with the computation of other slabs. <see cref="FilterSeconds"/> is 0: the WBP row filter runs inside the backend's
/// FilterBackproject call, and its time is in <see cref="ProjectSeconds"/>.
/// </summary>
public sealed record ReconstructionSummary(int Nx, int Ny, int Nz, int Slabs, int RowsPerSlab, double FilterSeconds, double ProjectSeconds, double IoSeconds)
{
    public double ReadSeconds { get; init; }
    public double WriteSeconds { get; init; }
}

/// <summary>
/// Weighted backprojection and SIRT of an aligned stack (tilt axis along Y), streamed by slabs of
/// Y rows: each slab reads its rows of every view, filters them (WBP: R-weighting with IMOD's radial
/// roll-off, through the backend's FFT), backprojects (or iterates SIRT) on the backend, and writes
/// its rows of every output section. The volume is never held whole; the stack is read from its file by
/// slabs, or taken from memory where a caller holds it (`run` right after the aligned stack is made).
/// Reading and writing overlap the computation: the next slab's rows are read, and the previous slab is
/// written, on background tasks while a slab is computed (one of each at a time). The output is committed
/// only after every slab is written; any failure or cancellation leaves no output and no temporary file.
/// </summary>
public sealed class Reconstructor(IComputeBackend backend, ILogger? logger = null)
{
    private readonly IComputeBackend _backend = backend ?? throw new ArgumentNullException(nameof(backend));

    /// <summary>The most host memory for one slab on a backend without device memory (the managed CPU path): 256 MiB.</summary>
    public const long CpuSlabBytes = 256L << 20;
    private readonly ILogger _log = logger ?? NullLogger.Instance;

    /// <summary>Test seam: called on the writing task after each slab (its index) is written.</summary>
    internal Action<int>? AfterSlabWritten { get; init; }

    /// <summary>Test seam: false waits for each read and write as soon as it starts (no overlap; the reference the overlapped path must match).</summary>
    internal bool Overlapped { get; init; } = true;

    /// <summary>Reconstructs the aligned stack in the MRC file <paramref name="alignedPath"/> (read by slabs of rows).</summary>
    public ReconstructionSummary Run(string alignedPath, IReadOnlyList<double> tiltDegrees, string outputPath, ReconstructionOptions o,
        IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        o.Validate();
        using var reader = MrcReader.Open(alignedPath);
        return Reconstruct(new FileRows(reader), tiltDegrees, outputPath, o, progress, cancel, beforeCommit: null);
    }

    /// <summary>
    /// Reconstructs an aligned stack held in memory, exactly as <see cref="Run(string, IReadOnlyList{double}, string, ReconstructionOptions, IProgress{double}?, CancellationToken)"/>
    /// would from a file holding the same pixels with pixel size <paramref name="pixelSizeAngstrom"/>. <paramref name="name"/>
    /// (the stack's file, if it has one) is what errors name. <paramref name="beforeCommit"/>, when given, runs after the
    /// last slab is written and before the output is committed; if it throws, nothing is committed.
    /// </summary>
    public ReconstructionSummary Run(ImageStack aligned, double pixelSizeAngstrom, string name, IReadOnlyList<double> tiltDegrees, string outputPath,
        ReconstructionOptions o, IProgress<double>? progress = null, CancellationToken cancel = default, Action? beforeCommit = null)
    {
        ArgumentNullException.ThrowIfNull(aligned);
        o.Validate();
        return Reconstruct(new MemoryRows(aligned, pixelSizeAngstrom, name), tiltDegrees, outputPath, o, progress, cancel, beforeCommit);
    }

    /// <summary>Where a reconstruction's rows come from: an MRC file or a stack in memory.</summary>
    private interface IRowSource
    {
        string Name { get; }
        int Nx { get; }
        int Ny { get; }
        int Nz { get; }
        double PixelSizeX { get; }
        /// <summary>Rows <paramref name="firstY"/> … of view <paramref name="z"/>, in <paramref name="scratch"/> or straight from memory.</summary>
        ReadOnlySpan<float> Rows(int z, int firstY, int rows, float[] scratch);
    }

    private sealed class FileRows(MrcReader reader) : IRowSource
    {
        public string Name => reader.Path;
        public int Nx => reader.Nx;
        public int Ny => reader.Ny;
        public int Nz => reader.Nz;
        public double PixelSizeX => reader.Header.PixelSizeX;
        public ReadOnlySpan<float> Rows(int z, int firstY, int rows, float[] scratch)
        {
            var span = scratch.AsSpan(0, rows * reader.Nx);
            reader.ReadRows(z, firstY, rows, span);
            return span;
        }
    }

    private sealed class MemoryRows(ImageStack stack, double pixelSize, string name) : IRowSource
    {
        public string Name => name;
        public int Nx => stack.Nx;
        public int Ny => stack.Ny;
        public int Nz => stack.Nz;
        public double PixelSizeX => pixelSize;
        public ReadOnlySpan<float> Rows(int z, int firstY, int rows, float[] scratch) =>
            stack.Data.AsSpan((int)(((long)z * stack.Ny + firstY) * stack.Nx), rows * stack.Nx);
    }

    /// <summary>The views <paramref name="keep"/> of another source, in that order (views left out of the tomogram).</summary>
    private sealed class SubsetRows(IRowSource inner, int[] keep) : IRowSource
    {
        public IRowSource Inner => inner;
        public string Name => inner.Name;
        public int Nx => inner.Nx;
        public int Ny => inner.Ny;
        public int Nz => keep.Length;
        public double PixelSizeX => inner.PixelSizeX;
        public ReadOnlySpan<float> Rows(int z, int firstY, int rows, float[] scratch) => inner.Rows(keep[z], firstY, rows, scratch);
    }

    /// <summary>True when the rows are read from a file (into a scratch buffer), not taken from memory.</summary>
    private static bool FromFile(IRowSource s) => s is FileRows || s is SubsetRows { Inner: FileRows };

    /// <summary>One slab: output rows Y0 … Y0+Rows−1, seeing input rows In0 … In0+Geometry.ProjectionRows−1 (binned).</summary>
    private readonly record struct Slab(int Index, int Y0, int Rows, int In0, SlabGeometry Geometry);

    private ReconstructionSummary Reconstruct(IRowSource source, IReadOnlyList<double> tiltDegrees, string outputPath, ReconstructionOptions o,
        IProgress<double>? progress, CancellationToken cancel, Action? beforeCommit)
    {
        string alignedPath = source.Name;
        if (tiltDegrees.Count != source.Nz)
            throw new TomalignInputException(alignedPath, $"has {source.Nz} views but {tiltDegrees.Count} tilt angles were given",
                "give the .tlt of this aligned stack (one angle per view)");
        if (o.ExcludedViews.Count > 0)
        {
            int[] keep = ViewScreening.KeptViews(o.ExcludedViews, source.Nz);
            if (keep.Length < 2)
                throw new TomalignInputException(alignedPath, $"only {keep.Length} of its {source.Nz} views are left to reconstruct", "exclude fewer views");
            _log.LogInformation("reconstruct: views {Views} (1-based) left out", string.Join(",", o.ExcludedViews.Order().Select(v => v + 1)));
            source = new SubsetRows(source, keep);
            tiltDegrees = keep.Select(v => tiltDegrees[v]).ToArray();
        }
        int views = source.Nz;
        int bin = o.Bin;
        int fullWidth = source.Nx / bin, fullHeight = source.Ny / bin;
        CheckBinning(alignedPath, source.Nx, source.Ny, bin);
        int width = o.Width > 0 ? Math.Min(o.Width, fullWidth) : fullWidth;
        int x0 = (fullWidth - width) / 2;
        var (yFirst, yLast) = o.Slices ?? (0, fullHeight - 1);
        if (yFirst < 0 || yLast >= fullHeight || yFirst > yLast)
            throw new TomalignInputException(null, $"slices {yFirst}–{yLast} are not inside 0–{fullHeight - 1}", "give --slices FIRST,LAST within the (binned) stack height");
        int height = yLast - yFirst + 1;
        int thickness = o.Thickness;

        var cos = new float[views]; var sin = new float[views];
        var angles = tiltDegrees.Select(t => t * Math.PI / 180).ToArray();
        for (int i = 0; i < views; i++)
        {
            if (!(Math.Abs(tiltDegrees[i]) < 89)) throw new TomalignInputException(null, $"tilt {tiltDegrees[i]}° of view {i} cannot be reconstructed", "give tilts within ±89°");
            cos[i] = (float)Math.Cos(angles[i]); sin[i] = (float)Math.Sin(angles[i]);
        }
        var weights = TrapezoidWeights(tiltDegrees);

        double phi = o.XAxisTiltDegrees * Math.PI / 180, cosPhi = Math.Cos(phi), sinPhi = Math.Sin(phi);
        int pad = FftSize.NextGood(2 * width);
        float[] filter = o.Method == ReconstructionMethod.Wbp ? RampFilter(pad, o) : [];
        int sirtMargin = o.Method == ReconstructionMethod.Sirt ? SirtBox.Margin(new SlabGeometry(width, 1, views, thickness, o.ZShift), cos, sin) : 0;
        long slabBytes = _backend.WorkingMemoryBytes is null ? Math.Min(o.SlabMemoryBytes, CpuSlabBytes) : o.SlabMemoryBytes;
        int rowsPerSlab = RowsPerSlab(width, height, views, thickness, pad, o.Method, slabBytes, _backend.WorkingMemoryBytes, sirtMargin);
        int slabs = (height + rowsPerSlab - 1) / rowsPerSlab;
        _log.LogInformation("reconstruct: {Method} of {Views} views into {W}×{H}×{T} (bin {Bin}), {Slabs} slab(s) of {Rows} rows on {Backend}, from {Source}",
            o.Method, views, width, height, thickness, bin, slabs, rowsPerSlab, _backend.Name, FromFile(source) ? "the file" : "memory");

        Slab Plan(int sIdx)
        {
            int y0 = yFirst + sIdx * rowsPerSlab, rows = Math.Min(rowsPerSlab, yLast + 1 - y0);
            // With an x-axis tilt the slab's voxels see a band of input rows around their own.
            double yc = fullHeight / 2.0, reach = (thickness / 2.0 + Math.Abs(o.ZShift)) * Math.Abs(sinPhi);
            int in0 = y0, inRows = rows;
            if (sinPhi != 0)
            {
                double lo = Math.Min((y0 - yc) * cosPhi, (y0 + rows - 1 - yc) * cosPhi) - reach + yc;
                double hi = Math.Max((y0 - yc) * cosPhi, (y0 + rows - 1 - yc) * cosPhi) + reach + yc;
                in0 = Math.Max(0, (int)Math.Floor(lo));
                inRows = Math.Min(fullHeight - 1, (int)Math.Ceiling(hi) + 1) - in0 + 1;
            }
            return new Slab(sIdx, y0, rows, in0, new SlabGeometry(width, rows, views, thickness, o.ZShift, inRows, (float)cosPhi, (float)sinPhi, (float)(y0 - yc), (float)(in0 - yc)));
        }

        // Reads a slab's rows of every view, binned (and −ln'd with --log); a NaN or infinite pixel is an input error.
        // Runs on a background task, one slab ahead of the computation.
        double tRead = 0, tWrite = 0;
        BufferRing projBuffers = new(), slabBuffers = new();
        int rowsPerRead = Math.Max(1, (1 << 20) / (bin * source.Nx));
        float[] ReadSlab(Slab s)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var g = s.Geometry;
            int inRows = g.ProjectionRows;
            var proj = projBuffers.Rent(g.ProjectionLength);
            var scratch = FromFile(source) ? new float[(long)Math.Min(rowsPerRead, inRows) * bin * source.Nx] : [];
            for (int i = 0; i < views; i++)
            {
                for (int r0 = 0; r0 < inRows; r0 += rowsPerRead)
                {
                    int nr = Math.Min(rowsPerRead, inRows - r0);
                    var rowBuf = source.Rows(i, (s.In0 + r0) * bin, nr * bin, scratch);
                    for (int rr = 0; rr < nr; rr++)
                    {
                        int r = r0 + rr;
                        var block = rowBuf.Slice(rr * bin * source.Nx, bin * source.Nx);
                        var dst = proj.AsSpan((int)(((long)i * inRows + r) * width), width);
                        if (bin == 1 && !o.Log)
                        {
                            // Unbinned: the row as it is (what the sum of one pixel divided by 1 gives), checked for NaN and ∞.
                            block.Slice(x0, width).CopyTo(dst);
                            if (!AllFinite(dst))
                                throw new TomalignInputException(alignedPath, $"view {i} has NaN or infinite pixels near row {s.In0 + r}", "replace or remove the bad view");
                            continue;
                        }
                        for (int x = 0; x < width; x++)
                        {
                            double sum = 0;
                            int sx = (x0 + x) * bin;
                            for (int by = 0; by < bin; by++)
                                for (int bx = 0; bx < bin; bx++) sum += block[by * source.Nx + sx + bx];
                            float v = (float)(sum / (bin * bin));
                            if (!float.IsFinite(v))
                                throw new TomalignInputException(alignedPath, $"view {i} has NaN or infinite pixels near row {(s.In0 + r) * bin}", "replace or remove the bad view");
                            dst[x] = o.Log ? -MathF.Log(MathF.Max(v, 1e-6f)) : v;
                        }
                    }
                }
            }
            tRead += sw.Elapsed.TotalSeconds;
            return proj;
        }

        var writeOptions = new MrcWriteOptions
        {
            PixelSizeAngstrom = source.PixelSizeX * bin,
            Labels = [$"tomalign reconstruct: {o.Method.ToString().ToUpperInvariant()}, thickness {thickness}, bin {bin}"],
        };
        int outNx = width, outNy = o.Layout == VolumeLayout.Xyz ? height : thickness, outNz = o.Layout == VolumeLayout.Xyz ? thickness : height;
        using var writer = MrcWriter.Create(outputPath, outNx, outNy, outNz, o.OutputMode, writeOptions);

        // Writes a computed slab (its rows of every Z section, or its Y sections); runs on a background task.
        void WriteSlab(Slab s, float[] slab)
        {
            try { WriteSlabRows(s, slab); }
            finally { slabBuffers.Return(slab); }
        }

        void WriteSlabRows(Slab s, float[] slab)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            int rows = s.Rows;
            if (o.Layout == VolumeLayout.Xyz)
            {
                var rowsOfZ = new float[(long)rows * width];
                for (int z = 0; z < thickness; z++)
                {
                    for (int r = 0; r < rows; r++)
                        slab.AsSpan((int)(((long)r * thickness + z) * width), width).CopyTo(rowsOfZ.AsSpan(r * width, width));
                    writer.WriteRows(z, s.Y0 - yFirst, rows, rowsOfZ);
                }
            }
            else
            {
                // IMOD tilt's own layout: section r is Y row r, and its rows run from the top of the specimen (the largest z,
                // towards the source) down: IMOD's tilt backprojects row I at z = −(I − centre), so trimvol -rx (clip rotx, output
                // Z = NY − 1 − row) gives the XYZ layout back. The lines are swapped in place: the slab buffer is not read again
                // before it goes back to the pool (it is reused, and may be longer than this slab).
                var computed = slab.AsSpan(0, (int)s.Geometry.SlabLength);
                var line = new float[width];
                for (int r = 0; r < rows; r++)
                    for (int z = 0; z < thickness / 2; z++)
                    {
                        var lower = computed.Slice((int)(((long)r * thickness + z) * width), width);
                        var upper = computed.Slice((int)(((long)r * thickness + (thickness - 1 - z)) * width), width);
                        lower.CopyTo(line);
                        upper.CopyTo(lower);
                        line.CopyTo(upper);
                    }
                writer.WriteSections(s.Y0 - yFirst, rows, computed);
            }
            tWrite += sw.Elapsed.TotalSeconds;
            AfterSlabWritten?.Invoke(s.Index);
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        double tWait = 0, tProject = 0;
        Task<float[]>? reading = null;
        Task? writing = null;
        try
        {
            var first = Plan(0);
            var next = first;
            reading = Task.Run(() => ReadSlab(first));
            for (int sIdx = 0; sIdx < slabs; sIdx++)
            {
                // Cancellation takes effect between slabs, between SIRT iterations and before the output is committed.
                cancel.ThrowIfCancellationRequested();
                var s = next;
                var t0 = clock.Elapsed.TotalSeconds;
                var proj = reading!.GetAwaiter().GetResult();
                tWait += clock.Elapsed.TotalSeconds - t0;
                reading = null;
                if (sIdx + 1 < slabs)
                {
                    var ahead = next = Plan(sIdx + 1);
                    reading = Task.Run(() => ReadSlab(ahead));
                    if (!Overlapped) Drain(reading);   // its error surfaces below, as it would overlapped
                }

                var g = s.Geometry;
                // Two volume and two projection buffers go round (one computed or read, one written or being read).
                var slab = slabBuffers.Rent(g.SlabLength);
                var projSpan = proj.AsSpan(0, (int)g.ProjectionLength);
                if (o.Method == ReconstructionMethod.Wbp)
                {
                    // The row filter and the backprojection in one backend call (on a device the filtered rows stay there).
                    t0 = clock.Elapsed.TotalSeconds;
                    _backend.Backprojector.FilterBackproject(projSpan, filter, pad, cos, sin, weights, g, slab.AsSpan(0, (int)g.SlabLength));
                    tProject += clock.Elapsed.TotalSeconds - t0;
                }
                else
                {
                    t0 = clock.Elapsed.TotalSeconds;
                    // Progress and the cancellation check after every iteration: one slab of SIRT can take minutes.
                    int slabIndex = sIdx;
                    // The whole iteration is one backend call: on a device the slab and the projections stay there throughout.
                    _backend.Backprojector.Sirt(projSpan, cos, sin, g, new SirtSettings(o.Iterations, (float)o.Relaxation, o.Positivity), slab.AsSpan(0, (int)g.SlabLength),
                        it => progress?.Report((slabIndex + (it + 1.0) / o.Iterations) / slabs * 0.999), cancel);
                    tProject += clock.Elapsed.TotalSeconds - t0;
                }
                projBuffers.Return(proj);

                // At most one slab is being written while the next is computed.
                t0 = clock.Elapsed.TotalSeconds;
                if (writing is not null)
                {
                    writing.GetAwaiter().GetResult();
                    progress?.Report((double)sIdx / slabs);
                }
                tWait += clock.Elapsed.TotalSeconds - t0;
                writing = Task.Run(() => WriteSlab(s, slab));
                if (!Overlapped) Drain(writing);
            }
            var tLast = clock.Elapsed.TotalSeconds;
            writing!.GetAwaiter().GetResult();
            writing = null;
            tWait += clock.Elapsed.TotalSeconds - tLast;
            beforeCommit?.Invoke();
            // A cancellation that came during the last slab still applies: the output is not committed.
            cancel.ThrowIfCancellationRequested();
            writer.Commit();
            progress?.Report(1.0);
        }
        finally
        {
            // On failure or cancellation: let the background read and write end before the writer (its temporary
            // file) and the reader are disposed; their own errors are secondary to the one being thrown.
            Drain(reading);
            Drain(writing);
        }
        _log.LogDebug("reconstruct: reading {Read:F2} s, writing {Write:F2} s (overlapped), computation waited {Wait:F2} s for them", tRead, tWrite, tWait);
        return new ReconstructionSummary(outNx, outNy, outNz, slabs, rowsPerSlab, FilterSeconds: 0, tProject, tWait) { ReadSeconds = tRead, WriteSeconds = tWrite };
    }

    /// <summary>
    /// Refuses a binning that leaves views of an <paramref name="nx"/>×<paramref name="ny"/> stack too small to reconstruct
    /// (under 2 pixels wide or 1 high), naming <paramref name="stack"/>; callers check it before the work that precedes the reconstruction.
    /// </summary>
    public static void CheckBinning(string? stack, int nx, int ny, int bin)
    {
        if (bin < 1) throw new TomalignInputException(null, $"--bin {bin} is not a binning factor", "use --bin 1 or more");
        int w = nx / bin, h = ny / bin;
        if (w < 2 || h < 1)
            throw new TomalignInputException(stack, $"binning {bin} leaves {w}×{h} pixels of its {nx}×{ny} views",
                $"use a smaller --bin (at most {Math.Max(1, Math.Min(nx / 2, ny))} for these views)");
    }

    /// <summary>Whether every value is finite (x − x is 0 for a finite x, NaN for NaN and ±∞).</summary>
    private static bool AllFinite(ReadOnlySpan<float> values)
    {
        var bad = System.Numerics.Vector<float>.Zero;
        int n = System.Numerics.Vector<float>.Count, k = 0;
        for (; k + n <= values.Length; k += n)
        {
            var v = new System.Numerics.Vector<float>(values[k..]);
            bad |= System.Numerics.Vector.Subtract(v, v);
        }
        if (!System.Numerics.Vector.EqualsAll(bad, System.Numerics.Vector<float>.Zero)) return false;
        for (; k < values.Length; k++)
            if (!float.IsFinite(values[k])) return false;
        return true;
    }

    /// <summary>
    /// The projection and volume buffers of a reconstruction, handed round between the reading, computing and writing
    /// tasks instead of allocated per slab (no page faults and no zeroing after the first slabs): Rent gives a returned
    /// array at least as long, or a new one (uninitialised: every element of a slab's buffers is written before it is read).
    /// </summary>
    private sealed class BufferRing
    {
        private readonly List<float[]> _free = [];

        public float[] Rent(long length)
        {
            lock (_free)
            {
                int best = -1;
                for (int k = 0; k < _free.Count; k++)
                    if (_free[k].LongLength >= length && (best < 0 || _free[k].LongLength < _free[best].LongLength)) best = k;
                if (best >= 0)
                {
                    var a = _free[best];
                    _free.RemoveAt(best);
                    return a;
                }
            }
            return GC.AllocateUninitializedArray<float>(checked((int)length));
        }

        public void Return(float[] array)
        {
            lock (_free) _free.Add(array);
        }
    }

    /// <summary>Waits for a task to end, ignoring its error (whoever awaits it later sees that).</summary>
    private static void Drain(Task? task)
    {
        if (task is null) return;
        try { task.Wait(); }
        catch (Exception) { /* the caller is already failing with the first error */ }
    }

    /// <summary>WBP's view weights: each view stands for half the angular gap to each neighbour (radians; the end views the whole gap).</summary>
    public static float[] TrapezoidWeights(IReadOnlyList<double> tiltDegrees)
    {
        ArgumentNullException.ThrowIfNull(tiltDegrees);
        int views = tiltDegrees.Count;
        var angles = tiltDegrees.Select(t => t * Math.PI / 180).ToArray();
        var weights = new float[views];
        var order = Enumerable.Range(0, views).OrderBy(i => angles[i]).ToArray();
        for (int k = 0; k < views; k++)
        {
            double lo = k > 0 ? angles[order[k - 1]] : angles[order[k]], hi = k < views - 1 ? angles[order[k + 1]] : angles[order[k]];
            double gap = views == 1 ? Math.PI : (hi - lo) / (k == 0 || k == views - 1 ? 1 : 2);
            weights[order[k]] = (float)gap;
        }
        return weights;
    }

    /// <summary>
    /// The R-weighting filter on a padded line of <paramref name="pad"/> samples: the spectrum of the
    /// discrete ramp kernel h(0) = 1/4, h(n odd) = −1/(π²n²), h(n even) = 0 (Kak and Slaney; its DC term is
    /// not zero, which keeps the mean right), times IMOD's radial roll-off (flat to the cutoff, Gaussian
    /// fall-off above) or a Hamming window. Half spectrum (pad/2+1 real weights), divided by pad so the
    /// unnormalised inverse FFT returns the filtered line.
    /// </summary>
    public static float[] RampFilter(int pad, ReconstructionOptions o)
    {
        int half = pad / 2 + 1;
        var f = new float[half];
        for (int k = 0; k < half; k++)
        {
            double sum = 0.25;
            for (int n = 1; n < pad / 2 + 1; n += 2)
                sum += 2 * (-1.0 / (Math.PI * Math.PI * n * n)) * Math.Cos(2 * Math.PI * k * n / pad) * (n == pad / 2 && pad % 2 == 0 ? 0.5 : 1);
            double nu = (double)k / pad;
            double window = o.Hamming
                ? 0.54 + 0.46 * Math.Cos(2 * Math.PI * nu)
                : nu <= o.RadialCutoff ? 1 : o.RadialFalloff > 0 ? Math.Exp(-(nu - o.RadialCutoff) * (nu - o.RadialCutoff) / (2 * o.RadialFalloff * o.RadialFalloff)) : 0;
            f[k] = (float)(sum * window / pad);
        }
        return f;
    }

    /// <summary>
    /// Rows per slab: a slab's projection rows and voxels (twice over for WBP, three times for SIRT) within
    /// <paramref name="slabMemoryBytes"/> and, on a device, within its working memory (--gpu-memory). SIRT holds its
    /// three projection-sized and three volume-sized buffers on the box widened by <paramref name="sirtMargin"/>
    /// columns each side (<see cref="SirtBox.Margin"/>), resident on a device for all iterations, so its rows are
    /// counted at that width (and its three per-view arrays taken off the budget). A pure function of the sizes, so
    /// the device plan of a size too large to run in tests can still be checked.
    /// </summary>
    public static int RowsPerSlab(int width, int height, int views, int thickness, int pad, ReconstructionMethod method,
        long slabMemoryBytes, long? workingMemoryBytes, int sirtMargin = 0)
    {
        long slabBudget = workingMemoryBytes is { } device ? Math.Min(slabMemoryBytes, device) : slabMemoryBytes;
        long bytesPerRow;
        if (method == ReconstructionMethod.Sirt)
        {
            long boxWidth = width + 2L * Math.Max(0, sirtMargin);
            bytesPerRow = 4L * (views * Math.Max(pad, boxWidth) + thickness * boxWidth) * 3;
            slabBudget -= 4L * 3 * views;
        }
        else bytesPerRow = 4L * (views * (long)Math.Max(pad, width) + (long)thickness * width) * 2;
        return (int)Math.Clamp(slabBudget / Math.Max(1, bytesPerRow), 1, height);
    }
}
