using System.CommandLine;
using Tomalign.Core.Pipeline;
using Tomalign.Core.Reporting;

namespace Tomalign.Cli;

/// <summary>
/// The options of the pipeline's commands, declared once: `align` takes the alignment's, `run` those and the
/// tomogram's. <see cref="ToSpec"/> turns a parse into the <see cref="PipelineSpec"/> the library runs.
/// </summary>
internal sealed class PipelineOptions
{
    public Argument<string> Stack { get; } = new("STACK") { Description = "The raw tilt series, MRC (.mrc/.st) or a multi-page TIFF stack (.tif, as SerialEM writes it)." };
    public Option<string> Angles { get; } = new("--angles") { Description = "Nominal tilt angles, one per view (.rawtlt). Optional when --mdoc is given, an mdoc lies beside the stack (STACK.mdoc or NAME.mdoc), or the MRC extended header (FEI1/FEI2, SerialEM) holds the angles." };
    public Option<string?> Mdoc { get; } = Commands.MdocOption();
    public Option<string> TiltAxis { get; } = new("--tilt-axis") { Description = "Tilt-axis angle in the raw image, degrees counter-clockwise from +Y (IMOD's rotation angle), or auto: searched by the coarse correlation (modulo 180°), or mdoc: the mdoc's (or extended header's) \"Tilt axis angle\" (the default when not given)." };
    public Option<bool> Markerless { get; } = new("--markerless") { Description = "Landmarks from patch tracking (no gold beads)." };
    public Option<double?> BeadDiameter { get; } = new("--bead-diameter") { Description = "Gold bead diameter in pixels: landmarks from bead tracking." };
    public Option<int> Beads { get; } = new("--beads") { Description = "Number of beads to seed and track (with --bead-diameter).", DefaultValueFactory = _ => 25 };
    public Option<bool> LightBeads { get; } = new("--light-beads") { Description = "Beads are lighter than the background (with --bead-diameter)." };
    public Option<bool> TwoSurfaces { get; } = new("--two-surfaces") { Description = "Beads: mark each bead's surface in NAME.fid (contour surface 1 = bottom, 2 = top, split at the largest height gap), as autofidseed -TwoSurfaces." };
    public Option<string> Rotation { get; } = new("--rotation") { Description = "Solve: rotation variables (fixed, per-view, global, grouped:N, linear:N, auto).", DefaultValueFactory = _ => "per-view" };
    public Option<string> Tilt { get; } = new("--tilt") { Description = "Solve: tilt-angle variables; auto (the default): per view with ≥ 10 landmarks per view (markerless, many beads), else grouped:5, unless per-view tilts fit the landmarks clearly better (Mallows' C_p; the choice is in the solve report).", DefaultValueFactory = _ => "auto" };
    public Option<string> Mag { get; } = new("--mag") { Description = "Solve: magnification variables; auto (the default): per view with ≥ 10 landmarks per view, else grouped:4, unless per-view variables fit clearly better (C_p, chosen with the tilt).", DefaultValueFactory = _ => "auto" };
    public Option<string?> XStretch { get; } = new("--xstretch") { Description = "Solve: X-stretch variables (tiltalign XStretchOption): fixed (the default), per-view, global, grouped:N, linear:N or auto (solved when the landmarks cover the field and the stretch is significant)." };
    public Option<string?> Skew { get; } = new("--skew") { Description = "Solve: skew variables (tiltalign SkewOption), as --xstretch." };
    public Option<bool> Distortion { get; } = new("--distortion") { Description = "Solve X-stretch and skew as tiltalign usually does (etomo's XStretchOption 3 / SkewOption 3): --xstretch grouped:7:1.5 (blocks of 7 views on average, smaller at high tilt as cos(tilt)^1.5) --skew linear:11; either option given overrides its part." };
    public Option<string> TiltPrior { get; } = new("--tilt-prior")
    {
        Description = "Solve: tie the solved tilts to the nominal ones. auto (the default): free tilts are kept only where they fit the " +
                      "landmarks clearly better (the nominal tilts leave at least 2× the residual variance), else a Gaussian prior about " +
                      "the nominal tilts (SD 0.25° or 0.1°, the loosest that keeps them within 0.5° RMS) or fixed tilts; the choice is in the " +
                      "solve report. A number: a prior of that SD in degrees. off: no prior.",
        DefaultValueFactory = _ => "auto",
    };
    public Option<string> TiltAxisHold { get; } = new("--tilt-axis-hold")
    {
        Description = "Solve: the tilt axis (the views' mean in-plane rotation). free (the default): solved with the rest. held: kept at " +
                      "--tilt-axis, each view's rotation about it solved (for a calibrated axis: patch landmarks lie near one plane and " +
                      "determine the axis weakly; a thick specimen turned it by 0.13–0.35° in tests). auto: held unless the given axis " +
                      "leaves at least 1.1× the residual variance of the free one. The choice is in the solve report.",
        DefaultValueFactory = _ => "free",
    };
    public Option<string?> ExcludeViews { get; } = new("--exclude-views")
    {
        Description = "Views to leave out of the alignment and the tomogram, 1-based as in IMOD (e.g. 1-3,40). Dark, overexposed and " +
                      "structureless views are found and left out anyway; the report lists them. When views are left out or the stack is " +
                      "not in tilt order, the stages align NAME.prepared.mrc (written beside the outputs) and every output refers to it.",
    };
    public Option<bool> Level { get; } = new("--level")
    {
        Description = "Level the specimen: offset every tilt angle so that the plane of the solved landmarks is flat in the tomogram " +
                      "(tiltalign's angle offset; the x-axis tilt that would level it about X is reported, not applied).",
    };
    public Option<bool> Local { get; } = new("--local")
    {
        Description = "Local alignments after the solve (tiltalign LocalAlignments, etomo's usual settings: areas of 700 px overlapping by half, " +
                      "at least 8 landmarks and 3 per surface): NAMElocal.xf (IMOD tilt's LOCALFILE)" ,
    };
    public Option<string> AxisProfiles { get; } = new("--axis-profiles")
    {
        Description = "After the solve, refine each view's rotation, magnification and shift along the tilt axis against the view nearest 0° " +
            "from profiles along the axis: it removes the slow drifts of rotation and magnification that patch landmarks leave, where the " +
            "specimen is thin against the field (a thick one's parallax spoils the profiles). auto (the default): for --markerless, when the " +
            $"specimen's estimated thickness is at most 1/{TiltSeriesPipeline.AxisProfilesMaxThicknessFraction} of the field; on; off.",
        DefaultValueFactory = _ => "auto",
    };
    public Option<int> Thickness { get; } = new("--thickness") { Description = "Tomogram thickness in (binned) voxels.", Required = true };
    public Option<string> Method { get; } = new("--method") { Description = "wbp (default) or sirt.", DefaultValueFactory = _ => "wbp" };
    public Option<int> Iterations { get; } = new("--iterations") { Description = "SIRT iterations.", DefaultValueFactory = _ => 15 };
    public Option<int> Bin { get; } = new("--bin") { Description = "Binning of the aligned stack and the tomogram.", DefaultValueFactory = _ => 1 };
    public Option<bool> Log { get; } = new("--log") { Description = "Reconstruct −ln(value) (stacks of transmitted intensity; IMOD tilt -LOG)." };
    public Option<bool> Resume { get; } = new("--resume")
    {
        Description = "Reuse the stages already done in --out whose record (NAME.stages.json) matches this stack and these options; " +
                      "redo the others and every stage after them. The report's `resume` field says which.",
    };
    public Option<string?> Name { get; } = new("--name") { Description = "Base name of the outputs (default: the stack's name)." };
    public Option<string> Output { get; } = new("--out", "-o") { Description = "Folder for every output.", Required = true };
    public Option<string> Device { get; } = Commands.DeviceOption();

    /// <summary>True for `run`: the aligned stack and the tomogram too.</summary>
    public bool Reconstructs { get; }

    private PipelineOptions(bool reconstructs) => Reconstructs = reconstructs;

    /// <summary>The options of `align`.</summary>
    public static PipelineOptions ForAlign() => new(false);

    /// <summary>The options of `run`.</summary>
    public static PipelineOptions ForRun() => new(true);

    /// <summary>Adds the options to <paramref name="command"/>, in the order its help lists them.</summary>
    public void AddTo(Command command)
    {
        command.Add(Stack);
        foreach (var o in Reconstructs
            ? new Option[] { Angles, Mdoc, TiltAxis, Markerless, BeadDiameter, Beads, LightBeads, Thickness, Method, Iterations, Bin, Log, ExcludeViews, Rotation, Tilt, Mag, XStretch, Skew, Distortion, TiltPrior, TiltAxisHold, Level, Local, AxisProfiles, Resume, TwoSurfaces, Name, Output, Device }
            : [Angles, Mdoc, TiltAxis, Markerless, BeadDiameter, Beads, LightBeads, ExcludeViews, Rotation, Tilt, Mag, XStretch, Skew, Distortion, TiltPrior, TiltAxisHold, Level, Local, AxisProfiles, Resume, TwoSurfaces, Name, Output, Device])
            command.Add(o);
    }

    /// <summary>The specification of the parsed command line, validated.</summary>
    public PipelineSpec ToSpec(ParseResult p) => new PipelineSpec
    {
        Stack = p.GetValue(Stack)!,
        Angles = p.GetValue(Angles) ?? "",
        Mdoc = p.GetValue(Mdoc),
        Out = p.GetValue(Output)!,
        Name = p.GetValue(Name),
        Resume = p.GetValue(Resume),
        TiltAxis = p.GetValue(TiltAxis) is { } axis && !PipelineSpec.IsMetadataAxis(axis) ? PipelineSpec.ParseTiltAxis(axis) : null,
        TiltAxisFromMetadata = p.GetValue(TiltAxis) is not { } given || PipelineSpec.IsMetadataAxis(given),
        Markerless = p.GetValue(Markerless),
        BeadDiameter = p.GetValue(BeadDiameter),
        Beads = p.GetValue(Beads),
        LightBeads = p.GetValue(LightBeads),
        TwoSurfaces = p.GetValue(TwoSurfaces),
        Rotation = p.GetValue(Rotation)!,
        Tilt = p.GetValue(Tilt)!,
        Mag = p.GetValue(Mag)!,
        XStretch = p.GetValue(XStretch) ?? (p.GetValue(Distortion) ? "grouped:7:1.5" : "fixed"),
        Skew = p.GetValue(Skew) ?? (p.GetValue(Distortion) ? "linear:11" : "fixed"),
        TiltPrior = p.GetValue(TiltPrior)!,
        TiltAxisHold = p.GetValue(TiltAxisHold)!,
        ExcludeViews = p.GetValue(ExcludeViews),
        Level = p.GetValue(Level),
        Local = p.GetValue(Local),
        AxisProfiles = p.GetValue(AxisProfiles)!,
        Thickness = Reconstructs ? p.GetValue(Thickness) : null,
        Method = Reconstructs ? p.GetValue(Method)! : "wbp",
        Iterations = Reconstructs ? p.GetValue(Iterations) : 15,
        Bin = Reconstructs ? p.GetValue(Bin) : 1,
        Log = Reconstructs && p.GetValue(Log),
        Device = p.GetValue(Device)!,
    }.Validate();

    /// <summary>The pipeline's context for a command: the command's logging and progress, Ctrl-C, the HTML page beside the JSON report.</summary>
    public static PipelineContext Context(CliContext ctx, string? command = null, IEnumerable<string>? arguments = null, CancellationToken? cancel = null,
        Action<string>? stageStarted = null, RunReport? report = null) => new()
    {
        Log = ctx.Log,
        Progress = ctx.Progress,
        Cancel = cancel ?? Commands.Cancellation,
        StageStarted = stageStarted,
        Command = command,
        Arguments = (arguments ?? Environment.GetCommandLineArgs().Skip(1)).ToList(),
        ReportWriters = [new HtmlRunReport()],
        Report = report,
    };
}
