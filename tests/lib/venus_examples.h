/* The Venus replies the tests and the simulator share, as string literals:
 * one copy each, so that a test and the simulator it talks to can never
 * disagree about an example.
 *
 *   VENUS_DOC_DUMP      venus-mqtt.md section 3.2, the example reply to cd=01,
 *                       verbatim (docs/design.md, "Vendor documents").
 *   VENUS_HM2MQTT_DUMP  the cd=1 reply the hm2mqtt project (tomquist/hm2mqtt,
 *                       src/device/venus.ts, the comment on READ_DEVICE_INFO)
 *                       records from newer firmware, verbatim: it carries keys
 *                       the document does not list (seq_s, ctrl_r, par, gen,
 *                       ble, shelly_p, c_ratio).
 *   VENUS_HM2MQTT_BMS   the cd=14 reply hm2mqtt records from a real device
 *                       (the comment on GET_BMS_INFO), verbatim.
 *   VENUS_SIM_GET_POWER a cd=19 reply in the form of venus-mqtt.md section
 *                       15.2, which gives no example values: these are the
 *                       tests' own, distinct and one negative, so that a
 *                       swapped field or sign shows (a wrong meaning would
 *                       not). */
#ifndef VENUS_EXAMPLES_H
#define VENUS_EXAMPLES_H

#define VENUS_DOC_DUMP                                                                             \
	"tot_i=44785,tot_o=36889,ele_d=489,ele_m=3931,grd_d=395,grd_m=2833,inc_d=0,inc_m=-111,"    \
	"grd_f=0,grd_o=807,grd_t=3,gct_s=1,cel_s=3,cel_p=138,cel_c=27,err_t=0,err_a=0,dev_n=140,"  \
	"grd_y=0,wor_m=1,tim_0=14|0|17|0|127|800|1,tim_1=17|1|20|0|127|-800|1,"                    \
	"tim_2=20|1|23|0|127|800|1,tim_3=23|1|23|59|127|-800|1,tim_4=0|1|3|0|127|800|1,"           \
	"tim_5=3|1|6|0|127|-800|1,tim_6=6|1|9|0|127|800|1,tim_7=9|1|12|1|127|-800|1,"              \
	"tim_8=9|10|12|0|127|-2500|0,tim_9=0|0|0|0|0|0|0,cts_m=0,bac_u=1,tra_a=41,tra_i=40000,"    \
	"tra_o=600000,htt_p=0,prc_c=4620,prc_d=4620,wif_s=35,inc_a=-152,set_v=1,mcp_w=2500,"       \
	"mdp_w=800,ct_t=1,phase_t=0,dchrg_t=255,bms_v=109,fc_v=202407221950,wifi_n=Hame"

#define VENUS_HM2MQTT_DUMP                                                                         \
	"tot_i=8848,tot_o=7097,ele_d=537,ele_m=8848,grd_d=328,grd_m=7097,inc_d=0,inc_m=0,grd_f=0," \
	"grd_o=613,grd_t=3,gct_s=1,cel_s=3,cel_p=327,cel_c=64,err_t=0,err_a=0,dev_n=149,grd_y=0,"  \
	"wor_m=0,tim_0=0|0|8|2|127|300|1,tim_1=0|0|5|23|127|350|0,tim_2=17|21|23|59|127|600|1,"    \
	"tim_3=9|31|16|30|127|-800|1,tim_4=0|0|0|0|0|0|0,tim_5=0|0|0|0|0|0|0,tim_6=0|0|0|0|0|0|0," \
	"tim_7=0|0|0|0|0|0|0,tim_8=0|0|0|0|0|0|0,tim_9=0|0|0|0|0|0|0,cts_m=0,bac_u=0,tra_a=1,"     \
	"tra_i=0,tra_o=0,htt_p=0,prc_c=0,prc_d=1,wif_s=33,inc_a=0,set_v=0,mcp_w=2500,mdp_w=2500,"  \
	"ct_t=4,phase_t=1,dchrg_t=1,bms_v=212,fc_v=202409090159,wifi_n=XXX,seq_s=0,ctrl_r=1,"      \
	"par=255,gen=255,ble=3,shelly_p=1010,c_ratio=90"

#define VENUS_HM2MQTT_BMS                                                                          \
	"b_ver=212,b_chv=571,b_rci=1000,b_rdi=1000,b_soc=65,b_soh=100,b_cap=5120,b_vol=5223,"      \
	"b_cur=-94,b_tem=250,b_chf=192,b_slf=0,b_cpc=332,b_err=0,b_war=0,b_ret=102482070,"         \
	"b_ent=0,b_mot=23,b_tp1=18,b_tp2=19,b_tp3=18,b_tp4=19,b_vo1=3265,b_vo2=3265,b_vo3=3265,"   \
	"b_vo4=3265,b_vo5=3264,b_vo6=3264,b_vo7=3265,b_vo8=3265,b_vo9=3264,b_vo10=3265,"           \
	"b_vo11=3264,b_vo12=3265,b_vo13=3265,b_vo14=3265,b_vo15=3264,b_vo16=3262"

#define VENUS_SIM_GET_POWER "get_power=-312|145|98|-69|800"

/* The other models' replies to cd=1, as the hm2mqtt project's parser tests
 * (tomquist/hm2mqtt, src/parser.test.ts) record them, verbatim:
 *   B2500_V2_DUMP  "should parse a full device message correctly" (HMA-1):
 *                  the runtime reply of a second-generation B2500 with its
 *                  five timers d/e/f/h1..5, CT and daily-statistics keys.
 *   B2500_V1_DUMP  "should parse comma-separated key-value pairs correctly":
 *                  the short runtime reply, with cs, cd (the outputs of a
 *                  first-generation B2500) and lv.
 *   JUPITER_DUMP   "should parse Jupiter message correctly" (JPLS-1), the same
 *                  reply src/device/jupiter.ts records on READ_DEVICE_INFO.
 *   CT002_DUMP     "should parse CT002 smart meter message" (HME-4). */
#define B2500_V2_DUMP                                                                              \
	"p1=0,p2=0,w1=0,w2=0,pe=14,vv=224,sv=3,cs=0,cd=0,am=0,o1=0,o2=0,do=90,lv=800,cj=1,kn=313," \
	"g1=0,g2=0,b1=0,b2=0,md=0,d1=1,e1=0:0,f1=23:59,h1=800,d2=0,e2=0:0,f2=23:59,h2=200,d3=0,"   \
	"e3=0:0,f3=23:59,h3=800,sg=0,sp=80,st=0,tl=12,th=13,tc=0,tf=0,fc=202310231502,id=5,a0=14," \
	"a1=0,a2=0,l0=0,l1=0,c0=255,c1=4,bc=622,bs=512,pt=1552,it=1332,m0=0,m1=0,m2=0,m3=0,d4=0,"  \
	"e4=2:0,f4=23:59,h4=50,d5=0,e5=0:0,f5=23:59,h5=347,lmo=1377,lmi=614,lmf=0,uv=10"
#define B2500_V1_DUMP                                                                              \
	"p1=1,p2=2,w1=0,w2=0,pe=14,vv=224,sv=3,cs=0,cd=0,am=0,o1=0,o2=0,do=90,lv=800,g1=0,g2=0,"   \
	"kn=2000"
#define JUPITER_DUMP                                                                               \
	"ele_d=349,ele_m=2193,ele_y=0,pv1_p=94,pv1_s=1,pv2_p=77,pv2_s=1,pv3_p=41,pv3_s=1,pv4_p="   \
	"60,"                                                                                      \
	"pv4_s=1,grd_o=250,grd_t=1,gct_s=1,cel_s=0,cel_p=424,cel_c=83,err_t=0,wor_m=1,"            \
	"tim_0=12|0|23|59|127|800|1,tim_1=0|0|12|0|127|150|1,tim_2=0|0|0|0|255|0|0,"               \
	"tim_3=0|0|0|0|255|0|0,tim_4=0|0|0|0|255|0|0,cts_m=0,grd_d=285,grd_m=2018,dev_n=134,"      \
	"dev_i=106,dev_m=206,dev_b=209,dev_t=110,wif_s=75,ala_c=0,ful_d=1,ssid=xxxx,stop_s=10,"    \
	"htt_p=0,ct_t=4,phase_t=1,dchrg=1,seq_s=3,ctrl_r=0,shelly_p=1010,c_ratio=100,b_lck=0,"     \
	"dod=88,total_b=1,online_b=1"
#define CT002_DUMP                                                                                 \
	"pwr_a=119,pwr_b=15,pwr_c=-136,pwr_t=-1,ble_s=5,wif_r=-79,fc4_v=202409090159,ver_v=119,"   \
	"wif_s=2,slv_n=1,cur_d=0"

#endif
