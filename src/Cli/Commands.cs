using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Tomalign.Core;
using Tomalign.Core.Backend;
using Tomalign.Core.Coarse;
using Tomalign.Core.Imaging;
using Tomalign.Core.Formats;
using Tomalign.Core.Pipeline;
using Tomalign.Core.Reporting;

namespace Tomalign.Cli;

/// <summary>The subcommands. Names are an interface: scripts depend on them.</summary>
internal static partial class Commands
{
    /// <summary>
    /// The running command's interruption token (Ctrl-C), set by <see cref="CliApp.Run"/> for the command it invokes. Held per
    /// async flow, so that commands run side by side in one process (the tests) do not see each other's interruption.
    /// </summary>
    internal static CancellationToken Cancellation { get => CancellationFlow.Value; set => CancellationFlow.Value = value; }

    private static readonly AsyncLocal<CancellationToken> CancellationFlow = new();

    public static IEnumerable<Command> All(TextWriter stdout, TextWriter stderr)
    {
        yield return Simulate(stdout, stderr);
        yield return Info(stdout, stderr);
        yield return Coarse(stdout, stderr);
        yield return Apply(stdout, stderr);
        yield return Track(stdout, stderr);
        yield return Patch(stdout, stderr);
        yield return Solve(stdout, stderr);
        yield return Align(stdout, stderr);
        yield return Reconstruct(stdout, stderr);
        yield return RunPipeline(stdout, stderr);
        yield return Verify(stdout, stderr);
        yield return Bench(stdout, stderr);
        yield return Demo(stdout, stderr);
        yield return Convert(stdout, stderr);
        yield return Serve(stdout, stderr);
        yield return Batch(stdout, stderr);
        yield return Check(stdout, stderr);
        yield return Export(stdout, stderr);
    }

    internal static Option<string> DeviceOption() => new("--device")
    {
        Description = "Where heavy work runs: auto (CUDA if present, else the managed CPU path), cpu, cuda, opencl, " +
                      "or ilgpu-cpu (ILGPU's CPU emulator, for testing kernels). Environment override: TOMALIGN_DEVICE.",
        DefaultValueFactory = _ => "auto",
    };

    /// <summary>--mdoc: SerialEM's .mdoc (or a folder or pattern of per-tilt mdocs), shared by every command that takes angles.</summary>
    internal static Option<string?> MdocOption() => new("--mdoc")
    {
        Description = "SerialEM's .mdoc of the stack (or a folder, or a pattern like 'frames/*.mdoc', of per-tilt mdocs as Tomo5/PACE write): " +
                      "the tilt angles when --angles is not given, and the tilt axis, pixel size, dose and acquisition order. " +
                      "Without it, STACK.mdoc or NAME.mdoc beside the stack is read when present.",
    };

    internal static DeviceKind ParseDevice(string text) => PipelineSpec.ParseDevice(text);

    /// <summary>Wraps a command body: context, logging, one-line errors, exit codes.</summary>
    internal static void SetBody(Command command, TextWriter stdout, TextWriter stderr, Func<ParseResult, CliContext, int> body)
    {
        command.SetAction(parse =>
        {
            bool verbose = parse.GetValue(CliApp.Verbose), quiet = parse.GetValue(CliApp.Quiet);
            var level = verbose ? LogLevel.Debug : quiet ? LogLevel.Warning : LogLevel.Information;
            try
            {
                using var ctx = new CliContext(stdout, stderr, level, progress: !quiet)
                {
                    GpuMemoryLimit = CliApp.ParseMemorySize(parse.GetValue(CliApp.GpuMemory) ?? Environment.GetEnvironmentVariable("TOMALIGN_GPU_MEMORY")),
                };
                return body(parse, ctx);
            }
            catch (Exception e)
            {
                return CliApp.Report(e, stderr, verbose);
            }
        });
    }

    /// <summary>The base name of a command's outputs: a plain file name, or an input error naming the fix.</summary>
    internal static string RequireBaseName(string? name) => PipelineSpec.RequireBaseName(name);

    /// <summary>--tilt-axis: degrees, or auto (null: search it).</summary>
    internal static double? ParseTiltAxis(string text) => PipelineSpec.ParseTiltAxis(text);

    /// <summary>The given tilt axis, or the one the coarse correlation finds (logged, and recorded in the report).</summary>
    internal static double ResolveTiltAxis(double? given, IPairCorrelator correlator, ImageStack stack, double[] tilts, CliContext ctx, RunReport report) =>
        TiltSeriesPipeline.ResolveTiltAxis(given, correlator, stack, tilts, ctx.Log, report, ctx.Progress("tilt axis"));

    /// <summary>--level (declared with the pipeline's options; `solve` takes it too).</summary>
    internal static Option<bool> LevelOption() => PipelineOptions.ForAlign().Level;

    /// <summary>--axis-profiles (declared with the pipeline's options; `bench --run` takes it too).</summary>
    internal static Option<string> AxisProfilesOption() => PipelineOptions.ForRun().AxisProfiles;

    internal static bool? ParseAxisProfiles(string mode) => PipelineSpec.ParseAxisProfiles(mode);

    /// <summary>The stack warped by the coarse transforms.</summary>
    internal static ImageStack Prealign(IComputeBackend backend, ImageStack data, Tomalign.Core.Geometry.Xf[] prexg) =>
        TiltSeriesPipeline.Prealign(backend, data, prexg);

    internal static string Fmt(double v, string format = "G6") => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>Where a command's JSON report goes: beside its main output, NAME.COMMAND.json.</summary>
    internal static string ReportPathFor(string output, string command)
    {
        string full = Path.GetFullPath(output);
        string stem = Directory.Exists(full) ? Path.Combine(full, "tomalign") : Path.Combine(Path.GetDirectoryName(full)!, Path.GetFileNameWithoutExtension(full));
        return $"{stem}.{command}.json";
    }

    private static Command Info(TextWriter stdout, TextWriter stderr)
    {
        var file = new Argument<string>("FILE") { Description = "An MRC file (.mrc, .st, .ali, .rec) or a multi-page TIFF stack." };
        var noStats = new Option<bool>("--no-stats") { Description = "Header only: skip reading the data for statistics." };
        var angles = new Option<string?>("--angles") { Description = "The series' angle file (.rawtlt/.tlt): checks one angle per view and prints the tilt range." };
        var mdoc = MdocOption();
        var cmd = new Command("info", "Summarise an MRC file: header, pixel size, statistics and NaN/Inf counts; the extended header's and the mdoc's angles, dose and axis.") { file, noStats, angles, mdoc };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            string path = p.GetValue(file)!;
            using var reader = MrcReader.Open(path);
            var h = reader.Header;
            var o = ctx.Out;
            o.WriteLine($"File:          {Path.GetFullPath(path)}");
            o.WriteLine($"Size:          {h.Nx} × {h.Ny} × {h.Nz} (NX × NY × NZ)");
            o.WriteLine($"Mode:          {(int)h.Mode} ({DescribeMode(h)})");
            o.WriteLine($"Byte order:    {(h.BigEndian ? "big-endian" : "little-endian")}");
            o.WriteLine($"Pixel size:    {Fmt(h.PixelSizeX)} × {Fmt(h.PixelSizeY)} × {Fmt(h.PixelSizeZ)} Å");
            o.WriteLine($"Origin:        {Fmt(h.OriginX)} {Fmt(h.OriginY)} {Fmt(h.OriginZ)}");
            o.WriteLine($"Extended hdr:  {h.ExtendedHeaderBytes} bytes{(string.IsNullOrWhiteSpace(h.ExtendedType) ? "" : $" ({h.ExtendedType.Trim()})")}");
            o.WriteLine($"Header stats:  min {Fmt(h.DMin)}, max {Fmt(h.DMax)}, mean {Fmt(h.DMean)}, rms {Fmt(h.Rms)}");
            for (int i = 0; i < h.Labels.Count; i++) o.WriteLine($"Label {i,2}:      {h.Labels[i].TrimEnd()}");
            if (MrcExtendedHeader.Layout(h) is { } layout && MrcExtendedHeader.Read(reader) is { } sections)
            {
                o.WriteLine($"Ext. metadata: {layout}, {sections.Length} sections" +
                    (MrcExtendedHeader.TiltAngles(sections) is { } ht ? $", tilts {Fmt(ht.Min(), "F2")}° to {Fmt(ht.Max(), "F2")}°" : ", no tilt angles") +
                    (sections.Any(s => s.Dose is > 0) ? $", dose {Fmt(sections.Sum(s => s.Dose ?? 0), "F1")} e/Å² in all" : "") +
                    (sections.Select(s => s.PixelSizeAngstrom).FirstOrDefault(v => v is > 0) is { } px ? $", pixel {Fmt(px, "G5")} Å" : "") +
                    (sections.Select(s => s.TiltAxisAngle).FirstOrDefault(v => v is not null) is { } ax ? $", tilt axis {Fmt(ax, "F2")}°" : ""));
            }
            string? anglesGiven = p.GetValue(angles), mdocGiven = p.GetValue(mdoc);
            if (anglesGiven is not null || mdocGiven is not null || SerialEmMdoc.FindBeside(path) is not null)
            {
                SeriesMetadata? meta = null;
                try { meta = SeriesMetadata.Resolve(path, anglesGiven, mdocGiven, h.Nz); }
                catch (TomalignInputException e) when (anglesGiven is null && mdocGiven is null)
                {
                    ctx.Log.LogWarning("{Warning}", e.Message);   // only an mdoc found beside it, and it does not fit: info goes on
                }
                foreach (var w in meta?.Warnings ?? []) ctx.Log.LogWarning("{Warning}", w);
                if (meta is not null)
                {
                    var tilts = meta.Tilts;
                    o.WriteLine($"Tilts:         {tilts.Length} views from {Fmt(tilts.Min(), "F2")}° to {Fmt(tilts.Max(), "F2")}° ({meta.AnglesSource})");
                    if (meta.TiltAxis is { } axis) o.WriteLine($"Tilt axis:     {Fmt(axis, "F2")}°");
                    if (meta.PreExposure is { } pre) o.WriteLine($"Pre-exposure:  {Fmt(pre.Min(), "F2")} to {Fmt(pre.Max(), "F2")} e/Å²");
                }
            }
            if (!p.GetValue(noStats))
            {
                var s = reader.ComputeStatistics();
                o.WriteLine($"Data stats:    min {Fmt(s.Min)}, max {Fmt(s.Max)}, mean {Fmt(s.Mean)}, sd {Fmt(s.Rms)}");
                o.WriteLine($"NaN pixels:    {s.NaNCount}");
                o.WriteLine($"Inf pixels:    {s.InfCount}");
                if (h.StatisticsContradiction(s, path) is { } contradiction) ctx.Log.LogWarning("{Warning}", contradiction);
                if (s.NaNCount + s.InfCount > 0)
                    ctx.Log.LogWarning("{File} has {NaN} NaN and {Inf} infinite pixels: later stages will refuse it until they are replaced.",
                        path, s.NaNCount, s.InfCount);
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static string DescribeMode(MrcHeader h) => h.Mode switch
    {
        MrcMode.Int8 => h.Int8Unsigned
            ? (h.HasImodStamp ? "unsigned 8-bit (IMOD stamp, not flagged signed)" : "unsigned 8-bit (no IMOD stamp: IMOD's default)")
            : (h.HasImodStamp ? "signed 8-bit (IMOD flag)" : "signed 8-bit (no IMOD stamp; the header's minimum is negative)"),
        MrcMode.Int16 => "signed 16-bit",
        MrcMode.Float32 => "32-bit float",
        MrcMode.UInt16 => "unsigned 16-bit",
        MrcMode.Float16 => "16-bit float",
        _ => "unknown",
    };

    internal static MrcMode ParseMode(string text) => text.Trim().ToLowerInvariant() switch
    {
        "2" or "float" or "float32" => MrcMode.Float32,
        "12" or "half" or "float16" => MrcMode.Float16,
        "0" or "byte" or "uint8" => MrcMode.Int8,
        "1" or "int16" => MrcMode.Int16,
        "6" or "uint16" => MrcMode.UInt16,
        _ => throw new TomalignInputException(null, $"cannot write MRC mode '{text}'", "use --mode float32 (2), float16 (12), uint8 (0), int16 (1) or uint16 (6)"),
    };

    private static Command Apply(TextWriter stdout, TextWriter stderr)
    {
        var stack = new Argument<string>("STACK") { Description = "The raw (or prealigned) stack, MRC or a multi-page TIFF stack." };
        var xf = new Option<string>("--xf") { Description = "Transforms raw → aligned, one IMOD .xf line per view (.xf, .prexg, .tltxf), or AreTomo's .aln (its dark views left as they are).", Required = true };
        var bin = new Option<int>("--bin") { Description = "Bin the output by N (mean of N×N).", DefaultValueFactory = _ => 1 };
        var interp = new Option<string>("--interpolation") { Description = "linear (default) or cubic.", DefaultValueFactory = _ => "linear" };
        interp.AcceptOnlyFromAmong("linear", "cubic");
        var mode = new Option<string>("--mode") { Description = "Output mode: float32 (2, default) or float16 (12).", DefaultValueFactory = _ => "float32" };
        var output = new Option<string>("--out", "-o") { Description = "The aligned stack to write (MRC). Written whole or not at all.", Required = true };
        var excludeViews = ExcludeViewsOption("left out of the aligned stack, as newstack -exclude (which counts from 0); the other views keep their order, so give `reconstruct` their angles, or keep every view here and use `reconstruct --exclude-views`.");
        var device = DeviceOption();
        var cmd = new Command("apply", "Warp every view by its transform, with optional binning (IMOD newstack -xform): the aligned stack.")
        { stack, xf, bin, interp, mode, excludeViews, output, device };
        SetBody(cmd, stdout, stderr, (p, ctx) =>
        {
            string input = p.GetValue(stack)!, xfPath = p.GetValue(xf)!, outPath = p.GetValue(output)!;
            int binning = p.GetValue(bin);
            if (binning < 1) throw new TomalignInputException(null, $"--bin {binning} is not a binning factor", "use --bin 1 or more");
            var report = new RunReport("apply", Environment.GetCommandLineArgs().Skip(1));
            var transforms = xfPath.EndsWith(".aln", StringComparison.OrdinalIgnoreCase) ? AreTomoAln.Read(xfPath).ToImod().Xf : ImodText.ReadXf(xfPath);
            using var backend = Backends.Create(ParseDevice(p.GetValue(device)!), ctx);
            report.Device = backend.Description;
            report.DeviceMemory = backend.DeviceMemory;
            report.Inputs.AddRange([Path.GetFullPath(input), Path.GetFullPath(xfPath)]);
            var options = new ApplyOptions
            {
                Bin = binning,
                Interpolation = p.GetValue(interp) == "cubic" ? Interpolation.Cubic : Interpolation.Linear,
                OutputMode = ParseMode(p.GetValue(mode)!),
            };
            int viewCount;
            using (var r = MrcReader.Open(input)) viewCount = r.Nz;
            int[] excluded = ExcludedViews(p.GetValue(excludeViews), viewCount);
            options = options with { ExcludedViews = excluded };
            ReportExcluded(report, excluded);
            var result = report.Stage("apply", () =>
                new ApplyTransforms(backend, ctx.Log).Run(input, transforms, xfPath, outPath, options, ctx.Progress("apply")));
            report.Outputs.Add(Path.GetFullPath(outPath));
            report.Results["outputSize"] = new[] { result.Nx, result.Ny, result.Nz };
            report.Results["pixelSizeAngstrom"] = result.PixelSizeAngstrom;
            report.Write(ReportPathFor(outPath, "apply"));
            ctx.Log.LogInformation("Wrote {Out} ({Nx}×{Ny}×{Nz}) in {Seconds:F2} s", outPath, result.Nx, result.Ny, result.Nz, report.TotalSeconds);
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
